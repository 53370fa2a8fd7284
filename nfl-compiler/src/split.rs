//! Splitting a program into stages chained by tail calls
//! (docs/decisions.md, "Stages").
//!
//! A program that would exceed a limit (the verifier's processed-insn
//! budget, the 512-byte stack, the user's `--max-insns`, the 16-bit jump
//! range) is cut between top-level control statements, and at every
//! `stage { }` block the user wrote. Within each user segment the cut is
//! greedy: each stage takes the longest run of statements that still fits,
//! found by binary search over compiled candidates.

use nfl_syntax::ast::Span;

use crate::build::stage::StagePlan;
use crate::estimate::{Estimate, STACK_LIMIT, STACK_LIMIT_WITH_CALLS, VERIFIER_BUDGET};
use crate::hir::{ExprKind, HdrSel, Hir, Place, Stmt, Transition};
use crate::pipeline::{Codegen, CodegenError, codegen_stage};
use crate::target::Target;

/// At most this many stages: 32 tail calls, one under the kernel's
/// `MAX_TAIL_CALL_CNT` (33).
pub const MAX_STAGES: usize = 33;
/// The kernel's limit on instructions in one program.
pub const MAX_PROGRAM_INSNS: usize = 1_000_000;
/// The estimate may fall below the verifier's count (0.79 of it at worst
/// over tests/ok and examples/, a heap's sifts): a stage is admitted only
/// when its estimate is under the kernel's budget divided by this.
pub const ESTIMATE_MARGIN: u64 = 2;

/// What one stage may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub processed: u64,
    pub stack: u32,
    pub insns: usize,
}

impl Limits {
    /// The kernel's limits, and the user's instruction budget if any.
    pub fn new(max_insns: Option<u64>) -> Limits {
        let insns = max_insns.map_or(MAX_PROGRAM_INSNS, |m| usize::try_from(m).unwrap_or(usize::MAX).min(MAX_PROGRAM_INSNS));
        Limits { processed: VERIFIER_BUDGET / ESTIMATE_MARGIN, stack: STACK_LIMIT, insns }
    }

    /// Whether a stage of this cost fits.
    pub fn admit(&self, e: &Estimate, has_calls: bool) -> bool {
        let stack = if has_calls { self.stack.min(STACK_LIMIT_WITH_CALLS) } else { self.stack };
        e.processed <= self.processed && e.stack <= stack && e.insns <= self.insns
    }

    /// Which limit `e` breaks, for messages.
    pub fn broken(&self, e: &Estimate) -> String {
        if e.stack > self.stack {
            format!("{} bytes of stack (limit {})", e.stack, self.stack)
        } else if e.insns > self.insns {
            format!("{} instructions (budget {})", e.insns, self.insns)
        } else {
            format!("an estimated {} processed instructions (at most {} per stage)", e.processed, self.processed)
        }
    }
}

/// Why a program could not be split.
#[derive(Clone, Debug)]
pub enum SplitError {
    /// Statement `span` alone (with the parser) breaks a limit (only the
    /// estimated processed instructions, with `estimated_only`).
    TooBig { span: Span, why: String, estimated_only: bool },
    /// The program needs more than [`MAX_STAGES`] stages.
    TooManyStages { needed: usize },
    /// An earlier stage writes a field the parser branches on, so later
    /// stages cannot rebuild the parser state from the packet.
    Rebuild { write: Span },
    Codegen(CodegenError),
}

/// The program compiled, whole or in stages.
#[derive(Debug)]
pub struct Split {
    /// `None` when the program is one stage.
    pub plan: Option<StagePlan>,
    /// One per stage (just one when not split).
    pub stages: Vec<Codegen>,
}

fn has_calls(cg: &Codegen) -> bool {
    !cg.extras.subprograms.is_empty()
}

/// Compile `hir`, split as the limits and its `stage` blocks require.
pub fn compile(hir: &Hir, target: Target, limits: &Limits) -> Result<Split, SplitError> {
    let n = hir.control.stmts.len();
    // The whole program when it meets the exact limits (size, stack) but
    // perhaps not the estimate: if no split meets the estimate either, it
    // is built whole and the verifier decides.
    let mut whole = None;
    if hir.stage_cuts.is_empty() {
        match codegen_stage(hir, target, None) {
            Ok(cg) if limits.admit(&cg.estimate, false) => return Ok(Split { plan: None, stages: vec![cg] }),
            Ok(cg) => whole = limits.admit(&Estimate { processed: 0, ..cg.estimate }, false).then_some(cg),
            Err(CodegenError::Alloc(_)) | Err(CodegenError::Emit(crate::lower::emit::EmitError::JumpTooFar)) => {}
            Err(e) => return Err(SplitError::Codegen(e)),
        }
    }
    let mut bounds: Vec<usize> = hir.stage_cuts.iter().map(|&c| c as usize).filter(|&c| c > 0 && c < n).collect();
    bounds.push(n);
    let mut starts = vec![0usize];
    let mut seg_start = 0;
    for seg_end in bounds {
        if seg_start > 0 {
            starts.push(seg_start);
        }
        match (cut_segment(hir, target, limits, &mut starts, seg_end), whole.take()) {
            (Err(SplitError::TooBig { estimated_only: true, .. }), Some(cg)) => return Ok(Split { plan: None, stages: vec![cg] }),
            (r, _) => r?,
        }
        seg_start = seg_end;
    }
    if starts.len() > MAX_STAGES {
        return Err(SplitError::TooManyStages { needed: starts.len() });
    }
    let plan = StagePlan { starts };
    if plan.len() > 1
        && let Some(write) = rebuild_hazard(hir, plan.starts.last().copied().unwrap_or(0))
    {
        return Err(SplitError::Rebuild { write });
    }
    let stages = (0..plan.len())
        .map(|k| codegen_stage(hir, target, Some((&plan, k))).map_err(SplitError::Codegen))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Split { plan: Some(plan), stages })
}

/// Cut statements `starts.last()..end` into stages that fit, pushing the
/// start of each stage after the first.
fn cut_segment(hir: &Hir, target: Target, limits: &Limits, starts: &mut Vec<usize>, end: usize) -> Result<(), SplitError> {
    let n = hir.control.stmts.len();
    loop {
        let start = starts.last().copied().unwrap_or(0);
        if start >= end || starts.len() > MAX_STAGES {
            return Ok(());
        }
        let fits = |stop: usize| -> Result<Option<Estimate>, SplitError> {
            let mut probe = starts.clone();
            if stop < n {
                probe.push(stop);
            }
            let plan = StagePlan { starts: probe };
            match codegen_stage(hir, target, Some((&plan, starts.len() - 1))) {
                Ok(cg) if limits.admit(&cg.estimate, has_calls(&cg)) => Ok(None),
                Ok(cg) => Ok(Some(cg.estimate)),
                Err(CodegenError::Alloc(_)) => Ok(Some(Estimate { stack: u32::MAX, ..Estimate::default() })),
                Err(CodegenError::Emit(crate::lower::emit::EmitError::JumpTooFar)) => {
                    Ok(Some(Estimate { insns: usize::MAX, ..Estimate::default() }))
                }
                Err(e) => Err(SplitError::Codegen(e)),
            }
        };
        if fits(end)?.is_none() {
            return Ok(());
        }
        // Where the next stage may start: source statement boundaries.
        let allowed: Vec<usize> = (start + 1..end).filter(|&i| matches!(hir.cut_points.get(i), Some(Some(_)))).collect();
        let too_big = |e: Estimate| {
            let span = hir.control.stmts.get(start).map_or(hir.span, Stmt::span);
            let estimated_only = limits.admit(&Estimate { processed: 0, ..e }, false);
            SplitError::TooBig { span, why: limits.broken(&e), estimated_only }
        };
        let Some(&first) = allowed.first() else {
            return Err(too_big(fits(end)?.unwrap_or_default()));
        };
        if let Some(e) = fits(first)? {
            return Err(too_big(e));
        }
        // The last allowed stop that fits: `allowed[lo]` fits, `allowed[hi]`
        // (or `end` when `hi` is past the list) does not.
        let (mut lo, mut hi) = (0, allowed.len());
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(allowed[mid])?.is_none() { lo = mid } else { hi = mid }
        }
        starts.push(allowed[lo]);
    }
}

/// Where the control's statements before `last` (the last stage's first)
/// or an action (wherever it is called) write a header field that the
/// parser reads (a `select` key or a `skip` amount), if anywhere: later
/// stages re-run the parser on the packet, which must still parse the
/// same way.
pub fn rebuild_hazard(hir: &Hir, last: usize) -> Option<Span> {
    let parser = hir.parser.as_ref()?;
    let mut read = Vec::new();
    for state in &parser.states {
        for stmt in &state.stmts {
            if let crate::hir::ParserStmt::Skip { amount, .. } = stmt {
                fields_read(amount, &mut read);
            }
        }
        if let Transition::Select { keys, .. } = &state.transition {
            keys.iter().for_each(|k| fields_read(k, &mut read));
        }
    }
    let before = &hir.control.stmts[..last.min(hir.control.stmts.len())];
    field_write(before, &read).or_else(|| hir.actions.iter().find_map(|a| field_write(&a.body.stmts, &read)))
}

/// `(header id, field)` of every field `e` reads.
fn fields_read(e: &crate::hir::Expr, out: &mut Vec<(u32, u32)>) {
    match &e.kind {
        ExprKind::Field { header, field } => {
            let h = match header {
                HdrSel::Fixed(r) => r.header,
                HdrSel::Last(h) => *h,
            };
            out.push((h.0, *field));
        }
        ExprKind::Unary { operand, .. } | ExprKind::Cast(operand) => fields_read(operand, out),
        ExprKind::Binary { lhs, rhs, .. } => {
            fields_read(lhs, out);
            fields_read(rhs, out);
        }
        ExprKind::In { expr, .. } => fields_read(expr, out),
        _ => {}
    }
}

fn field_write(stmts: &[Stmt], read: &[(u32, u32)]) -> Option<Span> {
    stmts.iter().find_map(|s| match s {
        Stmt::Assign { place: Place::Field { header, field }, span, .. } => {
            read.contains(&(header.header.0, *field)).then_some(*span)
        }
        Stmt::If { then_block, else_block, .. } => field_write(&then_block.stmts, read)
            .or_else(|| else_block.as_ref().and_then(|b| field_write(&b.stmts, read))),
        Stmt::LetElse { else_block, .. } => field_write(&else_block.stmts, read),
        Stmt::Loop { body, .. } => field_write(&body.stmts, read),
        // Added or removed headers change what a re-parse finds.
        Stmt::Reshape { span, .. } => Some(*span),
        _ => None,
    })
}
