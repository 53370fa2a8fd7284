//! The Cranelift JIT: each function of a [`Linked`] program becomes one
//! native function of the signature [`JitFn`], against the memory model and
//! calling convention of [`super::vm`].
//!
//! r0–r9 are Cranelift variables; r10 is the frame pointer of the call
//! depth the function runs at. Every load and store checks its virtual
//! address against the region table inline (`mem.rs`) and calls into Rust
//! only when the check fails ([`Vm::load`], [`Vm::store`],
//! [`vm::nfl_engine_mem`]). Helper, kfunc and bpf-to-bpf calls are
//! followed by a test of `abort`, which unwinds (faults and tail calls).
//! Instructions are translated in `alu.rs`, `mem.rs` and `jump.rs`; this
//! file owns the module, the functions and their blocks.

mod alu;
mod jump;
mod mem;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cranelift_codegen::ir::{
    AbiParam, AliasRegion, AliasRegionData, Block, FuncRef, InstBuilder, MemFlagsData, SigRef, Signature, UserFuncName,
    Value, types::I64,
};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module};
use nfl_compiler::bpf::Insn;
use nfl_compiler::bpf::insn::{BPF_JMP, BPF_JMP32, BPF_LD, BPF_X};

use super::EngineError;
use super::image::Linked;
use crate::load::ProgramKind;
use super::vm::{self, JitFn, Runner, Vm, VmCtx, FaultKind, STACK_SIZE, VMCTX_STACK};

/// A program compiled to native code. Its code is freed on drop: the
/// [`JitFn`]s it handed out must not be called after that.
pub struct JitProgram {
    module: Option<JITModule>,
    entries: HashMap<u32, JitFn>,
    compile_time: Duration,
}

impl JitProgram {
    /// The compiled function starting at instruction `insn`.
    pub fn entry(&self, insn: u32) -> Option<JitFn> {
        self.entries.get(&insn).copied()
    }

    /// How long [`compile`] took for this program.
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }
}

impl Runner for JitProgram {
    unsafe fn call(&self, vm: *mut Vm, target: u32, depth: u32, args: [u64; 5]) -> u64 {
        let Some(f) = self.entry(target) else {
            // SAFETY: the caller's promise.
            let vm = unsafe { &mut *vm };
            vm.raise(target, FaultKind::BadInsn { message: format!("no function starts at instruction {target}") });
            return 0;
        };
        let [r1, r2, r3, r4, r5] = args;
        // SAFETY: `f` is code of this (live) program; `vm` is the caller's
        // promise, and `ctx` is its first field.
        unsafe { f(vm.cast::<VmCtx>(), u64::from(depth), r1, r2, r3, r4, r5) }
    }
}

impl Drop for JitProgram {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: the entries die with `self`; callers were told not to
            // keep them longer.
            unsafe { module.free_memory() };
        }
    }
}

/// Compile every function of `code`.
pub fn compile(code: &Linked) -> Result<JitProgram, EngineError> {
    let start = Instant::now();
    let err = |message: String| EngineError::Jit { program: code.name.clone(), message };
    let len = code.insns.len() as u32;
    if code.funcs.first() != Some(&0) || code.funcs.windows(2).any(|w| w[0] >= w[1]) || code.funcs.iter().any(|&f| f >= len) {
        return Err(err(format!("bad function starts {:?} for {len} instructions", code.funcs)));
    }
    let mut module = new_module().map_err(err)?;
    match define_all(&mut module, code) {
        Ok(entries) => Ok(JitProgram { module: Some(module), entries, compile_time: start.elapsed() }),
        Err(message) => {
            // SAFETY: nothing of the module was handed out.
            unsafe { module.free_memory() };
            Err(err(message))
        }
    }
}

/// Declares, translates and defines every function; their entry points.
fn define_all(module: &mut JITModule, code: &Linked) -> Result<HashMap<u32, JitFn>, String> {
    let sig = jit_signature(module);
    let mut ids = HashMap::new();
    for &entry in &code.funcs {
        let id = module.declare_function(&format!("nfl_fn_{entry}"), Linkage::Local, &sig).map_err(|e| e.to_string())?;
        ids.insert(entry, id);
    }
    let mut ctx = module.make_context();
    let mut fctx = FunctionBuilderContext::new();
    for (i, &entry) in code.funcs.iter().enumerate() {
        let end = code.funcs.get(i + 1).copied().unwrap_or(code.insns.len() as u32);
        ctx.func.signature = sig.clone();
        ctx.func.name = UserFuncName::user(0, ids[&entry].as_u32());
        let callees = ids.iter().map(|(&e, &id)| (e, module.declare_func_in_func(id, &mut ctx.func))).collect();
        let builder = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let mut f = FnCompiler::new(builder, code, entry, end, callees);
        f.translate().map_err(|m| format!("function at {entry}: {m}"))?;
        f.b.finalize(module.target_config());
        module.define_function(ids[&entry], &mut ctx).map_err(|e| format!("function at {entry}: {e:?}"))?;
        module.clear_context(&mut ctx);
    }
    module.finalize_definitions().map_err(|e| e.to_string())?;
    Ok(ids
        .iter()
        .map(|(&entry, &id)| {
            let p = module.get_finalized_function(id);
            // SAFETY: `p` is the code of a function defined with the
            // signature `JitFn` describes (`jit_signature`).
            (entry, unsafe { std::mem::transmute::<*const u8, JitFn>(p) })
        })
        .collect())
}

fn new_module() -> Result<JITModule, String> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| f.set(k, v).map_err(|e| format!("{k}={v}: {e}"));
    // Cranelift's mid-end optimisations buy little on code that nflc has
    // already optimised (about 1 ns a packet) and cost a quarter of the
    // compile time (docs/decisions.md).
    set(&mut flags, "opt_level", "none")?;
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(&mut flags, "is_pic", "false")?;
    set(&mut flags, "enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" })?;
    let isa = cranelift_native::builder()
        .map_err(|e| format!("host machine not supported: {e}"))?
        .finish(settings::Flags::new(flags))
        .map_err(|e| e.to_string())?;
    Ok(JITModule::new(JITBuilder::with_isa(isa, cranelift_module::default_libcall_names())))
}

/// `(vm, depth, r1..r5) -> r0`, all i64, the host's C convention.
fn jit_signature(module: &JITModule) -> Signature {
    let mut sig = module.make_signature();
    sig.params.extend([AbiParam::new(I64); 7]);
    sig.returns.push(AbiParam::new(I64));
    sig
}

/// Memory flags of the three kinds of memory generated code touches; they
/// never alias, so loads of the region table survive stores to the packet
/// (but not calls).
#[derive(Clone, Copy)]
struct Flags {
    vmctx: MemFlagsData,
    table: MemFlagsData,
    heap: MemFlagsData,
}

/// Signatures of the Rust functions generated code calls.
struct Externs {
    mem: SigRef,
    call: SigRef,
    depth: SigRef,
}

/// One function being translated.
struct FnCompiler<'a> {
    b: FunctionBuilder<'a>,
    insns: &'a [Insn],
    /// The hook, whose context fields the slow path knows.
    kind: ProgramKind,
    start: u32,
    end: u32,
    regs: [Variable; 11],
    /// The block of every instruction a jump or fallthrough reaches.
    blocks: HashMap<u32, Block>,
    /// Targets of backward jumps (sealed only at the end).
    loop_heads: std::collections::HashSet<u32>,
    callees: HashMap<u32, FuncRef>,
    externs: Externs,
    flags: Flags,
    vm: Value,
    depth: Value,
    /// `VmCtx::regions` and `nregions`, loaded again after every call
    /// (helpers may add regions); the slow memory paths leave them alone.
    rows: Variable,
    nregions: Variable,
    /// Host address of r10 (one past the frame).
    host_fp: Value,
    /// Returns at once: after a fault or tail call.
    unwind: Block,
}

type Res<T> = Result<T, String>;

impl<'a> FnCompiler<'a> {
    fn new(mut b: FunctionBuilder<'a>, code: &'a Linked, start: u32, end: u32, callees: HashMap<u32, FuncRef>) -> Self {
        let regs = std::array::from_fn(|_| b.declare_var(I64));
        let (rows, nregions) = (b.declare_var(I64), b.declare_var(I64));
        let mut region = |id: u32, name: &'static str| -> Option<AliasRegion> {
            Some(b.func.dfg.alias_regions.insert(AliasRegionData { user_id: id, description: name.into() }))
        };
        let flags = Flags {
            vmctx: MemFlagsData::trusted().with_alias_region(region(1, "vmctx")),
            // Rows are read through `rows`, which is loaded anew after
            // every call: between calls they do not change.
            table: MemFlagsData::trusted().with_readonly().with_alias_region(region(2, "region table")),
            // Program memory: only touched once the region check passed.
            heap: MemFlagsData::new()
                .with_notrap()
                .with_endianness(cranelift_codegen::ir::Endianness::Little)
                .with_alias_region(region(3, "program memory")),
        };
        let sig = |b: &mut FunctionBuilder, n: usize| {
            let mut s = Signature::new(b.func.signature.call_conv);
            s.params.extend(std::iter::repeat_n(AbiParam::new(I64), n));
            s.returns.push(AbiParam::new(I64));
            b.import_signature(s)
        };
        let externs = Externs { mem: sig(&mut b, 6), call: sig(&mut b, 8), depth: sig(&mut b, 2) };
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let params = b.block_params(entry).to_vec();
        let (vm, depth) = (params[0], params[1]);
        let unwind = b.create_block();
        b.set_cold_block(unwind);
        let mut f = FnCompiler {
            b,
            insns: &code.insns,
            kind: code.kind,
            start,
            end,
            regs,
            blocks: HashMap::new(),
            loop_heads: Default::default(),
            callees,
            externs,
            flags,
            vm,
            depth,
            rows,
            nregions,
            host_fp: vm,
            unwind,
        };
        f.host_fp = f.entry_frame();
        f.load_table();
        for (r, &p) in params[2..].iter().enumerate() {
            f.b.def_var(f.regs[r + 1], p);
        }
        for r in [0, 6, 7, 8, 9] {
            let zero = f.b.ins().iconst(I64, 0);
            f.b.def_var(f.regs[r], zero);
        }
        f
    }

    /// Defines r10 and returns its host address: `stack + depth * 512 + 512`.
    fn entry_frame(&mut self) -> Value {
        let fp_region = self.b.ins().iadd_imm_s(self.depth, i64::from(vm::REGION_STACK0));
        let fp_region = self.b.ins().ishl_imm_u(fp_region, 32);
        let fp = self.b.ins().iadd_imm_s(fp_region, STACK_SIZE as i64);
        self.b.def_var(self.regs[10], fp);
        let stack = self.b.ins().load(I64, self.flags.vmctx, self.vm, VMCTX_STACK);
        let off = self.b.ins().imul_imm_s(self.depth, STACK_SIZE as i64);
        let frame = self.b.ins().iadd(stack, off);
        self.b.ins().iadd_imm_s(frame, STACK_SIZE as i64)
    }

    fn translate(&mut self) -> Res<()> {
        self.find_blocks()?;
        let mut pc = self.start;
        let mut open = true;
        while pc < self.end {
            if let Some(&block) = self.blocks.get(&pc) {
                if open {
                    self.b.ins().jump(block, &[]);
                }
                if self.loop_heads.contains(&pc) {
                    // A backward jump to it is still to come.
                    self.b.switch_to_block(block);
                } else {
                    self.enter(block);
                }
                open = true;
            }
            let insn = self.insns[pc as usize];
            if !open {
                return Err(format!("instruction {pc} follows a jump but no jump reaches it"));
            }
            open = self.insn(pc, insn)?;
            pc += if insn.is_ld_imm64() { 2 } else { 1 };
        }
        if open {
            return Err("the last instruction falls through past the function's end".into());
        }
        self.b.switch_to_block(self.unwind);
        let zero = self.b.ins().iconst(I64, 0);
        self.b.ins().return_(&[zero]);
        self.b.seal_all_blocks();
        Ok(())
    }

    /// One instruction; false when it ends its block (jump or exit).
    fn insn(&mut self, pc: u32, insn: Insn) -> Res<bool> {
        // Jumps with an immediate and calls carry no source register (a
        // call's `src` says what it calls), nor does `LD_IMM64`.
        let src_is_reg = match insn.class() {
            BPF_JMP | BPF_JMP32 => insn.code & BPF_X != 0,
            class => class != BPF_LD,
        };
        if insn.dst > 10 || src_is_reg && insn.src > 10 {
            return Err(format!("instruction {pc}: register out of range ({insn:?})"));
        }
        match insn.class() {
            alu::ALU | alu::ALU64 => self.alu(pc, insn).map(|()| true),
            BPF_JMP | BPF_JMP32 => self.jump(pc, insn),
            _ => self.mem(pc, insn).map(|()| true),
        }
    }

    /// A block for every jump target and every instruction after a jump
    /// (or exit); a target outside the function is an error.
    fn find_blocks(&mut self) -> Res<()> {
        let mut pc = self.start;
        let mut starts = std::collections::BTreeSet::new();
        let mut slots = std::collections::HashSet::new();
        while pc < self.end {
            let insn = self.insns[pc as usize];
            slots.insert(pc);
            if insn.is_ld_imm64() {
                if pc + 1 >= self.end {
                    return Err(format!("LD_IMM64 at {pc} cut short"));
                }
                pc += 2;
                continue;
            }
            if let Some(target) = jump::targets(pc, insn) {
                if let Some(t) = target {
                    if t < i64::from(self.start) || t >= i64::from(self.end) {
                        return Err(format!("jump at {pc} to {t}, outside the function [{}, {})", self.start, self.end));
                    }
                    starts.insert(t as u32);
                    if t <= i64::from(pc) {
                        self.loop_heads.insert(t as u32);
                    }
                }
                if pc + 1 < self.end {
                    starts.insert(pc + 1);
                }
            }
            pc += 1;
        }
        for t in starts {
            if !slots.contains(&t) {
                return Err(format!("jump into the middle of LD_IMM64 at {}", t - 1));
            }
            let block = self.b.create_block();
            self.blocks.insert(t, block);
        }
        Ok(())
    }

    fn get(&mut self, reg: u8) -> Value {
        self.b.use_var(self.regs[reg as usize])
    }

    fn set(&mut self, pc: u32, reg: u8, v: Value) -> Res<()> {
        if reg >= 10 {
            return Err(format!("instruction {pc} writes r{reg}"));
        }
        self.b.def_var(self.regs[reg as usize], v);
        Ok(())
    }

    /// Continue in `block`, whose predecessors are all emitted: sealing it
    /// at once keeps variable lookups from growing block parameters.
    fn enter(&mut self, block: Block) {
        self.b.switch_to_block(block);
        self.b.seal_block(block);
    }

    /// (Re)load the region table's address and length.
    fn load_table(&mut self) {
        let rows = self.b.ins().load(I64, self.flags.vmctx, self.vm, vm::VMCTX_REGIONS);
        let n = self.b.ins().load(I64, self.flags.vmctx, self.vm, vm::VMCTX_NREGIONS);
        self.b.def_var(self.rows, rows);
        self.b.def_var(self.nregions, n);
    }

    /// Unwind when `abort` is set (after every call out).
    fn check_abort(&mut self) {
        let abort = self.b.ins().load(I64, self.flags.vmctx, self.vm, vm::VMCTX_ABORT);
        let cont = self.b.create_block();
        self.b.ins().brif(abort, self.unwind, &[], cont, &[]);
        self.enter(cont);
    }

    /// Calls the Rust function at `addr` (signature `sig`, which returns
    /// one `u64`).
    fn call_extern(&mut self, sig: SigRef, addr: usize, args: &[Value]) -> Value {
        let callee = self.b.ins().iconst(I64, addr as i64);
        let call = self.b.ins().call_indirect(sig, callee, args);
        self.b.inst_results(call)[0]
    }
}

/// Raises [`FaultKind::CallDepth`] for generated code.
///
/// # Safety
/// As [`vm::nfl_engine_mem`].
unsafe extern "C" fn nfl_engine_depth(vm: *mut VmCtx, pc: u64) -> u64 {
    // SAFETY: the caller's promise; `ctx` is the first field of `Vm`.
    let vm = unsafe { &mut *vm.cast::<Vm>() };
    vm.raise(pc as u32, FaultKind::CallDepth);
    0
}

/// Raises the out-of-budget fault for generated code (the signature of
/// [`nfl_engine_depth`]).
///
/// # Safety
/// As [`vm::nfl_engine_mem`].
unsafe extern "C" fn nfl_engine_out_of_budget(vm: *mut VmCtx, pc: u64) -> u64 {
    // SAFETY: the caller's promise.
    unsafe { vm::nfl_engine_budget(vm, pc) };
    0
}

/// [`compile`] and the time it took.
pub fn compile_timed(code: &Linked) -> Result<(JitProgram, Duration), EngineError> {
    let p = compile(code)?;
    let t = p.compile_time();
    Ok((p, t))
}
