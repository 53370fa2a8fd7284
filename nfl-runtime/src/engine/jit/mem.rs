//! Loads, stores, atomics and `LD_IMM64`. Every access checks its virtual
//! address against the region table inline and calls
//! [`vm::nfl_engine_mem`] only when the check fails; accesses through r10
//! at a constant offset inside the frame need no check at all.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I32, I64};
use cranelift_codegen::ir::{Block, BlockArg, InstBuilder, Value};
use nfl_compiler::bpf::Insn;
use nfl_compiler::bpf::insn::*;

use super::{FnCompiler, Res};
use crate::load::ProgramKind;
use crate::engine::vm::{self, REGION_BASE, REGION_HI, REGION_LO, REGION_SIZE, STACK_SIZE, Vm, VmCtx};

/// `BPF_MEMSX`: sign-extending loads.
const BPF_MEMSX: u8 = 0x80;
/// Atomic operations (in `imm`).
const BPF_FETCH: i32 = 0x01;
const BPF_XCHG: i32 = 0xe0 | BPF_FETCH;
const BPF_CMPXCHG: i32 = 0xf0 | BPF_FETCH;

impl FnCompiler<'_> {
    pub(super) fn mem(&mut self, pc: u32, insn: Insn) -> Res<()> {
        let size = match insn.code & 0x18 {
            BPF_B => 1,
            BPF_H => 2,
            BPF_W => 4,
            _ => 8,
        };
        match (insn.class(), insn.code & 0xe0) {
            (BPF_LD, BPF_IMM) if size == 8 && insn.src == 0 => {
                let hi = self.insns[pc as usize + 1].imm as u32;
                let v = u64::from(insn.imm as u32) | u64::from(hi) << 32;
                let v = self.b.ins().iconst(I64, v as i64);
                self.set(pc, insn.dst, v)
            }
            (BPF_LDX, BPF_MEM) => self.load(pc, insn, size, false),
            (BPF_LDX, BPF_MEMSX) if size < 8 => self.load(pc, insn, size, true),
            (BPF_ST, BPF_MEM) => {
                let v = self.b.ins().iconst(I64, i64::from(insn.imm));
                self.store(pc, insn.dst, insn.off, size, v);
                Ok(())
            }
            (BPF_STX, BPF_MEM) => {
                let v = self.get(insn.src);
                self.store(pc, insn.dst, insn.off, size, v);
                Ok(())
            }
            (BPF_STX, BPF_ATOMIC) if size >= 4 => self.atomic(pc, insn, size),
            _ => Err(format!("instruction {pc}: unknown memory instruction {insn:?}")),
        }
    }

    fn load(&mut self, pc: u32, insn: Insn, size: u32, signed: bool) -> Res<()> {
        let v = self.access(pc, insn.src, insn.off, size, None, false, |f, host| f.load_host(host, size, signed));
        self.set(pc, insn.dst, v)
    }

    fn store(&mut self, pc: u32, reg: u8, off: i16, size: u32, v: Value) {
        self.access(pc, reg, off, size, Some(v), false, |f, host| {
            f.store_host(host, size, v);
            v
        });
    }

    /// Load-modify-store (the engine is single threaded); `r0` or the
    /// source register gets the old value where the operation says so.
    fn atomic(&mut self, pc: u32, insn: Insn, size: u32) -> Res<()> {
        let op = insn.imm;
        let src = self.get(insn.src);
        let r0 = self.get(0);
        let bad = || Err(format!("instruction {pc}: unknown atomic operation {op:#x}"));
        if !matches!(op & !BPF_FETCH, 0x00 | 0x40 | 0x50 | 0xa0) && op != BPF_XCHG && op != BPF_CMPXCHG {
            return bad();
        }
        let old = self.access(pc, insn.dst, insn.off, size, Some(src), true, |f, host| {
            let old = f.load_host(host, size, false);
            let ins = f.b.ins();
            let new = match op & !BPF_FETCH {
                0x00 => ins.iadd(old, src),
                0x40 => ins.bor(old, src),
                0x50 => ins.band(old, src),
                0xa0 => ins.bxor(old, src),
                0xe0 => src,
                _ => {
                    let expected = if size == 4 { f.low32(r0) } else { r0 };
                    let same = f.b.ins().icmp(IntCC::Equal, old, expected);
                    f.b.ins().select(same, src, old)
                }
            };
            f.store_host(host, size, new);
            old
        });
        match op {
            BPF_CMPXCHG => self.set(pc, 0, old),
            _ if op & BPF_FETCH != 0 => self.set(pc, insn.src, old),
            _ => Ok(()),
        }
    }

    fn low32(&mut self, v: Value) -> Value {
        let narrow = self.b.ins().ireduce(I32, v);
        self.b.ins().uextend(I64, narrow)
    }

    fn load_host(&mut self, host: Value, size: u32, signed: bool) -> Value {
        let (flags, ins) = (self.flags.heap, self.b.ins());
        match (size, signed) {
            (1, false) => ins.uload8(I64, flags, host, 0),
            (1, true) => ins.sload8(I64, flags, host, 0),
            (2, false) => ins.uload16(I64, flags, host, 0),
            (2, true) => ins.sload16(I64, flags, host, 0),
            (4, false) => ins.uload32(flags, host, 0),
            (4, true) => ins.sload32(flags, host, 0),
            _ => ins.load(I64, flags, host, 0),
        }
    }

    fn store_host(&mut self, host: Value, size: u32, v: Value) {
        let (flags, ins) = (self.flags.heap, self.b.ins());
        match size {
            1 => ins.istore8(flags, v, host, 0),
            2 => ins.istore16(flags, v, host, 0),
            4 => ins.istore32(flags, v, host, 0),
            _ => ins.store(flags, v, host, 0),
        };
    }

    /// An access of `size` bytes at `reg + off`: `fast` emits it at the host
    /// address once the region check passed; otherwise the slow path
    /// serves it or records the fault and unwinds. The value of whichever
    /// path ran.
    ///
    /// Loads and stores (`atomic` false) check against the region of `reg`
    /// itself and accept only offsets `reg`'s offset `+ off` inside it, so
    /// accesses through one pointer share their region lookup; the slow
    /// path ([`nfl_jit_mem`]) then applies the exact rule of
    /// [`vm`](crate::engine::vm) to whatever that refused (an address
    /// that `off` carried into another region). Atomics check the address
    /// itself, exact without a fallback.
    fn access(
        &mut self,
        pc: u32,
        reg: u8,
        off: i16,
        size: u32,
        store: Option<Value>,
        atomic: bool,
        fast: impl FnOnce(&mut Self, Value) -> Value,
    ) -> Value {
        let off = i64::from(off);
        if reg == 10 && off >= -(STACK_SIZE as i64) && off + i64::from(size) <= 0 {
            let host = self.b.ins().iadd_imm_s(self.host_fp, off);
            return fast(self, host);
        }
        let base = self.get(reg);
        let addr = self.b.ins().iadd_imm_s(base, off);
        let (anchor, rest) = if atomic { (addr, 0) } else { (base, off) };
        let (row, offset) = self.row_of(anchor);
        let offset = self.b.ins().iadd_imm_s(offset, rest);
        let table = self.flags.table;
        let lo = self.b.ins().load(I64, table, row, REGION_LO);
        let hi = self.b.ins().load(I64, table, row, REGION_HI);
        let host_base = self.b.ins().load(I64, table, row, REGION_BASE);
        // Signed: `offset` may be below 0 or past 2^32 here (rows have
        // `0 <= lo` and `hi <= 2^32`).
        let end = self.b.ins().iadd_imm_s(offset, i64::from(size));
        let above = self.b.ins().icmp(IntCC::SignedGreaterThanOrEqual, offset, lo);
        let below = self.b.ins().icmp(IntCC::SignedLessThanOrEqual, end, hi);
        let inside = self.b.ins().band(above, below);
        let (fast_block, slow, join) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
        self.b.set_cold_block(slow);
        let result = self.b.append_block_param(join, I64);
        self.b.ins().brif(inside, fast_block, &[], slow, &[]);

        self.enter(fast_block);
        let host = self.b.ins().iadd(host_base, offset);
        let v = fast(self, host);
        self.b.ins().jump(join, &[BlockArg::Value(v)]);

        self.enter(slow);
        if store.is_none() && !atomic && size == 4 {
            self.packet_field(addr, off, join);
        }
        let konst = |f: &mut Self, v: u64| f.b.ins().iconst(I64, v as i64);
        let args = [
            self.vm,
            addr,
            konst(self, u64::from(size)),
            konst(self, u64::from(store.is_some())),
            store.unwrap_or_else(|| konst(self, 0)),
            konst(self, u64::from(pc)),
        ];
        let slow_fn = if atomic { vm::nfl_engine_mem as *const () } else { nfl_jit_mem as *const () };
        let sig = self.externs.mem;
        let v = self.call_extern(sig, slow_fn as usize, &args);
        self.check_abort();
        self.b.ins().jump(join, &[BlockArg::Value(v)]);

        self.enter(join);
        result
    }

    /// The region table row of virtual address `v` and `v`'s offset. A
    /// region past the table reads row 0 (`REGION_NULL`, empty) instead,
    /// which fails every offset check: one branch per access, not two.
    fn row_of(&mut self, v: Value) -> (Value, Value) {
        let region = self.b.ins().ushr_imm_u(v, 32);
        let nregions = self.b.use_var(self.nregions);
        let known = self.b.ins().icmp(IntCC::UnsignedLessThan, region, nregions);
        let null = self.b.ins().iconst(I64, i64::from(vm::REGION_NULL));
        let region = self.b.ins().select(known, region, null);
        let rows = self.b.use_var(self.rows);
        let row = self.b.ins().imul_imm_s(region, REGION_SIZE);
        let row = self.b.ins().iadd(rows, row);
        let offset = self.b.ins().ireduce(I32, v);
        let offset = self.b.ins().uextend(I64, offset);
        (row, offset)
    }
}

impl FnCompiler<'_> {
    /// In a slow path: when `addr` is the context field `off` that holds
    /// `data` or `data_end` (`data_meta` is `data`), its value without a
    /// call — the packet region is `[data, data_end)` (see
    /// [`vm`](crate::engine::vm)), so it is that row's `lo` or `hi`.
    /// Programs read these fields first thing, on every packet.
    fn packet_field(&mut self, addr: Value, off: i64, join: Block) {
        let field = match (self.kind, off) {
            (ProgramKind::Xdp, 0 | 8) | (ProgramKind::Tc, 76 | 140) => REGION_LO,
            (ProgramKind::Xdp, 4) | (ProgramKind::Tc, 80) => REGION_HI,
            _ => return,
        };
        let ctx_field = self.b.ins().iconst(I64, vm::vaddr(vm::REGION_CTX, off as u32) as i64);
        let is_field = self.b.ins().icmp(IntCC::Equal, addr, ctx_field);
        let (read, other) = (self.b.create_block(), self.b.create_block());
        self.b.set_cold_block(read);
        self.b.set_cold_block(other);
        self.b.ins().brif(is_field, read, &[], other, &[]);
        self.enter(read);
        let rows = self.b.use_var(self.rows);
        let row = self.b.ins().iadd_imm_s(rows, i64::from(vm::REGION_PKT) * REGION_SIZE);
        let offset = self.b.ins().load(I64, self.flags.table, row, field);
        let v = self.b.ins().iadd_imm_s(offset, vm::vaddr(vm::REGION_PKT, 0) as i64);
        self.b.ins().jump(join, &[BlockArg::Value(v)]);
        self.enter(other);
    }
}

/// Slow path of loads and stores: the exact rule of [`vm`] for any
/// address (through [`Vm::load`] and [`Vm::store`]), then the context or
/// a fault.
///
/// # Safety
/// As [`vm::nfl_engine_mem`].
unsafe extern "C" fn nfl_jit_mem(vm: *mut VmCtx, addr: u64, size: u64, store: u64, value: u64, pc: u64) -> u64 {
    // SAFETY: the caller's promise; `ctx` is the first field of `Vm`.
    let vm = unsafe { &mut *vm.cast::<Vm>() };
    if store != 0 {
        vm.store(pc as u32, addr, size as u32, value);
        0
    } else {
        vm.load(pc as u32, addr, size as u32)
    }
}
