//! The whole pass pipeline, in order, in one place.
//!
//! HIR → IR (`build`) → `unread_flag_bits` → `load_cse` → (`simplify_cfg` → `thread_flag_tests` →
//! `unread_flag_bits` → `dead_code`) to a
//! fixpoint → `wire_order_compares` →
//! lower to machine IR → register allocation → emission. In debug builds
//! the IR verifier runs after every IR pass; a failure is a compiler bug.

use crate::bpf::Insn;
use crate::hir::Hir;
use crate::ir::{self, Function};
use crate::lower::{self, regalloc::AllocStats};
use crate::opt;

/// Everything code generation produced for one program.
#[derive(Clone, Debug)]
pub struct Codegen {
    /// The IR as built, before optimisation.
    pub ir_built: Function,
    /// The IR after optimisation, as lowered.
    pub ir: Function,
    pub insns: Vec<Insn>,
    /// `(first instruction, span)` where the source location changes.
    pub lines: Vec<(usize, nfl_syntax::ast::Span)>,
    /// `(instruction slot, map index)` of each map reference.
    pub map_refs: Vec<(usize, u32)>,
    pub alloc: AllocStats,
    /// What the object needs beyond plain maps (queues' BTF value types,
    /// kfunc call sites, the rbtree callback); empty for most programs.
    pub extras: crate::elf::ObjectExtras,
    pub kfunc_sites: Sites,
    /// What the builder decided, for `--explain` (after the checker's lines).
    pub explain: Vec<String>,
    /// Size, stack and estimated verifier cost (`estimate.rs`).
    pub estimate: crate::estimate::Estimate,
}

/// An internal failure of code generation (never a user error, except a
/// program too large for the verifier's stack or jump range).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodegenError {
    IrInvalid { pass: &'static str, problem: String },
    Alloc(lower::regalloc::AllocError),
    Emit(lower::emit::EmitError),
}

impl std::fmt::Display for CodegenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodegenError::IrInvalid { pass, problem } => {
                write!(f, "internal compiler error: invalid IR after {pass}: {problem}")
            }
            CodegenError::Alloc(lower::regalloc::AllocError::StackOverflow { needed }) => {
                write!(f, "the program needs {needed} bytes of stack; the eBPF limit is 512")
            }
            CodegenError::Emit(lower::emit::EmitError::JumpTooFar) => {
                write!(f, "the program is too large: a jump does not fit eBPF's 16-bit offset")
            }
            CodegenError::Emit(lower::emit::EmitError::Unallocated) => {
                write!(f, "internal compiler error: a virtual register was not allocated")
            }
        }
    }
}

fn checked(func: &Function, pass: &'static str) -> Result<(), CodegenError> {
    if cfg!(debug_assertions) {
        ir::verify::verify(func).map_err(|problem| CodegenError::IrInvalid { pass, problem })?;
    }
    Ok(())
}

/// Run the IR passes in order.
pub fn optimize(func: &mut Function) -> Result<(), CodegenError> {
    checked(func, "build")?;
    opt::unread_flag_bits(func);
    checked(func, "unread_flag_bits")?;
    opt::load_cse(func);
    checked(func, "load_cse")?;
    // Each pass can expose work for the other; a handful of rounds reaches
    // the fixpoint on every program we have seen.
    for _ in 0..4 {
        let before = (func.blocks.len(), func.blocks.iter().map(|b| b.insts.len()).sum::<usize>());
        opt::simplify_cfg(func);
        checked(func, "simplify_cfg")?;
        opt::thread_flag_tests(func);
        checked(func, "thread_flag_tests")?;
        opt::unread_flag_bits(func);
        checked(func, "unread_flag_bits (2)")?;
        opt::dead_code(func);
        checked(func, "dead_code")?;
        let after = (func.blocks.len(), func.blocks.iter().map(|b| b.insts.len()).sum::<usize>());
        if before == after {
            break;
        }
    }
    opt::simplify_cfg(func);
    checked(func, "simplify_cfg (final)")?;
    opt::wire_order_compares(func);
    checked(func, "wire_order_compares")?;
    Ok(())
}

/// HIR to final instructions (the `helpers` profile).
pub fn codegen(hir: &Hir) -> Result<Codegen, CodegenError> {
    codegen_for(hir, crate::target::Target::Helpers)
}

/// HIR to final instructions for a profile.
pub fn codegen_for(hir: &Hir, target: crate::target::Target) -> Result<Codegen, CodegenError> {
    codegen_stage(hir, target, None)
}

/// Stage `k` of a program split by a plan (the whole program for `None`).
pub fn codegen_stage(
    hir: &Hir,
    target: crate::target::Target,
    staged: Option<(&crate::build::stage::StagePlan, usize)>,
) -> Result<Codegen, CodegenError> {
    let (func, graph, explain) = crate::build::build_stage(hir, target, staged);
    let mut cg = codegen_ir(func)?;
    cg.explain = explain;
    cg.extras = extras(&cg.ir.name, graph, &cg.kfunc_sites);
    Ok(cg)
}

/// The object extras: the queues' BTF and the sites emission recorded.
fn extras(name: &str, graph: crate::build::queue::GraphNeeds, sites: &Sites) -> crate::elf::ObjectExtras {
    use crate::elf::{FuncRef, KfuncCall, ObjectExtras, TypeIdLoad};
    let func = || name.to_string();
    ObjectExtras {
        structs: graph.structs,
        map_values: graph.map_values,
        subprograms: graph.subprograms,
        kfunc_calls: sites
            .kfuncs
            .iter()
            .filter_map(|(i, k)| Some(KfuncCall { func: func(), insn_idx: *i, kfunc: k.kfunc()?.to_string() }))
            .collect(),
        func_refs: sites
            .funcs
            .iter()
            .map(|i| FuncRef { func: func(), insn_idx: *i, target: crate::build::queue::LESS.to_string() })
            .collect(),
        type_id_loads: sites
            .type_ids
            .iter()
            .map(|i| TypeIdLoad { func: func(), insn_idx: *i, struct_name: "nfl_pq_node".to_string() })
            .collect(),
    }
}

/// Instruction slots emission recorded for the object writer.
#[derive(Clone, Debug, Default)]
pub struct Sites {
    pub kfuncs: Vec<(usize, ir::Kcall)>,
    pub funcs: Vec<usize>,
    pub type_ids: Vec<usize>,
}

/// Built IR to final instructions (optimise, lower, allocate, emit).
pub fn codegen_ir(ir_built: Function) -> Result<Codegen, CodegenError> {
    let mut ir = ir_built.clone();
    optimize(&mut ir)?;
    let mir = lower::lower(&ir);
    let (mir, alloc) = lower::regalloc::allocate(mir).map_err(CodegenError::Alloc)?;
    let processed = crate::estimate::processed(&mir, ir.entry.index(), &crate::estimate::flags::flag_states(&ir));
    let emitted = lower::emit::emit(&mir).map_err(CodegenError::Emit)?;
    let map_refs = emitted.map_refs;
    let estimate = crate::estimate::Estimate { insns: emitted.insns.len(), stack: alloc.stack_bytes, processed };
    let kfunc_sites = Sites { kfuncs: emitted.kfunc_refs, funcs: emitted.func_refs, type_ids: emitted.type_id_refs };
    Ok(Codegen {
        ir_built,
        ir,
        insns: emitted.insns,
        lines: emitted.lines,
        map_refs,
        alloc,
        estimate,
        extras: Default::default(),
        kfunc_sites,
        explain: Vec::new(),
    })
}
