//! JMP and JMP32: jumps, calls (helpers, kfuncs, bpf-to-bpf) and exit.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I32, I64};
use cranelift_codegen::ir::{Block, InstBuilder, Value};
use nfl_compiler::bpf::Insn;
use nfl_compiler::bpf::insn::*;

use super::{FnCompiler, Res, nfl_engine_depth, nfl_engine_out_of_budget};
use crate::engine::vm::{self, KFUNC_BASE, MAX_FRAMES, VmCtx};

/// For an instruction that ends a block: its jump target (`None` for
/// exit). `None` for every other instruction, calls included.
pub(super) fn targets(pc: u32, insn: Insn) -> Option<Option<i64>> {
    let class = insn.class();
    if class != BPF_JMP && class != BPF_JMP32 {
        return None;
    }
    let next = i64::from(pc) + 1;
    match insn.code & 0xf0 {
        BPF_CALL => None,
        BPF_EXIT => Some(None),
        BPF_JA if class == BPF_JMP32 => Some(Some(next + i64::from(insn.imm))),
        0xe0 | 0xf0 => None,
        _ => Some(Some(next + i64::from(insn.off))),
    }
}

impl FnCompiler<'_> {
    /// A jump-class instruction; false when it ends its block.
    pub(super) fn jump(&mut self, pc: u32, insn: Insn) -> Res<bool> {
        let wide = insn.class() == BPF_JMP;
        let op = insn.code & 0xf0;
        let bad = || Err(format!("instruction {pc}: unknown jump instruction {insn:?}"));
        match op {
            BPF_EXIT if wide => {
                let r0 = self.get(0);
                self.b.ins().return_(&[r0]);
                return Ok(false);
            }
            BPF_CALL if wide => return self.call(pc, insn).map(|()| true),
            BPF_EXIT | BPF_CALL => return bad(),
            _ => {}
        }
        let Some(Some(target)) = targets(pc, insn) else { return bad() };
        let taken = self.block_at(pc, target)?;
        if target <= i64::from(pc) {
            // A loop: each pass spends the run's budget.
            self.spend(pc);
        }
        if op == BPF_JA {
            self.b.ins().jump(taken, &[]);
            return Ok(false);
        }
        let not_taken = self.block_at(pc, i64::from(pc) + 1)?;
        let ty = if wide { I64 } else { I32 };
        let dst = self.get(insn.dst);
        let dst = if wide { dst } else { self.b.ins().ireduce(I32, dst) };
        let src = if insn.code & BPF_X != 0 {
            let s = self.get(insn.src);
            if wide { s } else { self.b.ins().ireduce(I32, s) }
        } else {
            self.konst(ty, i64::from(insn.imm))
        };
        let cc = match op {
            BPF_JEQ => IntCC::Equal,
            BPF_JNE => IntCC::NotEqual,
            BPF_JGT => IntCC::UnsignedGreaterThan,
            BPF_JGE => IntCC::UnsignedGreaterThanOrEqual,
            BPF_JLT => IntCC::UnsignedLessThan,
            BPF_JLE => IntCC::UnsignedLessThanOrEqual,
            BPF_JSGT => IntCC::SignedGreaterThan,
            BPF_JSGE => IntCC::SignedGreaterThanOrEqual,
            BPF_JSLT => IntCC::SignedLessThan,
            BPF_JSLE => IntCC::SignedLessThanOrEqual,
            BPF_JSET => {
                let bits = self.b.ins().band(dst, src);
                self.b.ins().brif(bits, taken, &[], not_taken, &[]);
                return Ok(false);
            }
            _ => return bad(),
        };
        let cond = self.b.ins().icmp(cc, dst, src);
        self.b.ins().brif(cond, taken, &[], not_taken, &[]);
        Ok(false)
    }

    /// Take one from the run's budget (`VmCtx::budget`); at zero, fault
    /// and unwind.
    fn spend(&mut self, pc: u32) {
        let left = self.b.ins().load(I64, self.flags.vmctx, self.vm, vm::VMCTX_BUDGET);
        let empty = self.b.ins().icmp_imm_u(IntCC::Equal, left, 0);
        self.fault_if(empty, pc, nfl_engine_out_of_budget);
        let rest = self.b.ins().iadd_imm_s(left, -1);
        self.b.ins().store(self.flags.vmctx, rest, self.vm, vm::VMCTX_BUDGET);
    }

    /// When `cond` holds, a cold block calls `raise(vm, pc)` and unwinds;
    /// code goes on after it otherwise.
    fn fault_if(&mut self, cond: Value, pc: u32, raise: unsafe extern "C" fn(*mut VmCtx, u64) -> u64) {
        let (out, ok) = (self.b.create_block(), self.b.create_block());
        self.b.set_cold_block(out);
        self.b.ins().brif(cond, out, &[], ok, &[]);

        self.enter(out);
        let pcv = self.b.ins().iconst(I64, i64::from(pc));
        let sig = self.externs.depth;
        self.call_extern(sig, raise as *const () as usize, &[self.vm, pcv]);
        self.b.ins().jump(self.unwind, &[]);

        self.enter(ok);
    }

    fn block_at(&self, pc: u32, target: i64) -> Res<Block> {
        u32::try_from(target)
            .ok()
            .and_then(|t| self.blocks.get(&t).copied())
            .ok_or_else(|| format!("jump at {pc} to {target}, outside the function"))
    }

    /// Helper and kfunc calls go through [`vm::nfl_engine_call`]; a
    /// bpf-to-bpf call runs its callee one frame deeper. Both unwind when
    /// `abort` is set on return.
    fn call(&mut self, pc: u32, insn: Insn) -> Res<()> {
        let args: Vec<Value> = (1..=5).map(|r| self.get(r)).collect();
        let r0 = match insn.src {
            BPF_PSEUDO_CALL => self.call_function(pc, insn, &args)?,
            0 | BPF_PSEUDO_KFUNC_CALL => {
                let base = if insn.src == 0 { 0 } else { KFUNC_BASE };
                let id = self.b.ins().iconst(I64, (base + u64::from(insn.imm as u32)) as i64);
                let pcv = self.b.ins().iconst(I64, i64::from(pc));
                let mut all = vec![self.vm, id];
                all.extend(&args);
                all.push(pcv);
                let sig = self.externs.call;
                self.call_extern(sig, vm::nfl_engine_call as *const () as usize, &all)
            }
            other => return Err(format!("instruction {pc}: call with source {other}")),
        };
        self.check_abort();
        self.load_table();
        self.set(pc, 0, r0)
    }

    fn call_function(&mut self, pc: u32, insn: Insn, args: &[Value]) -> Res<Value> {
        let target = i64::from(pc) + 1 + i64::from(insn.imm);
        let callee = u32::try_from(target)
            .ok()
            .and_then(|t| self.callees.get(&t).copied())
            .ok_or_else(|| format!("instruction {pc}: call to {target}, where no function starts"))?;
        self.spend(pc);
        let depth = self.b.ins().iadd_imm_s(self.depth, 1);
        let too_deep = self.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, depth, i64::from(MAX_FRAMES));
        self.fault_if(too_deep, pc, nfl_engine_depth);
        let mut all = vec![self.vm, depth];
        all.extend(args);
        let call = self.b.ins().call(callee, &all);
        Ok(self.b.inst_results(call)[0])
    }
}
