//! One stage of a split program (docs/decisions.md, "Stages").
//!
//! A stage is the whole parser (rebuilt from the packet: it is cheap, and
//! packet pointers cannot be stored in a map) followed by a range of the
//! control's top-level statements. Metadata and the top-level `let`s of
//! earlier stages travel in a one-entry per-CPU array
//! ([`SCRATCH_MAP`]), one 8-byte slot each; a stage that falls off its
//! end stores them and tail-calls the next stage through [`PROG_ARRAY`].
//! A tail call that fails (an empty slot: never after a complete load)
//! ends the packet with the `abort` verdict.

use nfl_syntax::ast::VerdictKind;

use super::{Builder, verdict_code};
use crate::hir::{Hir, LocalId, Stmt};
use crate::ir::{BufId, Exit, Inst, MapDef, MapId, MapKind, Operand, Term, VarId};

/// The `BPF_MAP_TYPE_PROG_ARRAY` holding stages 1.. (slot `k` is stage `k`).
pub const PROG_ARRAY: &str = "nfl_stages";
/// The per-CPU array carrying live values from one stage to the next.
pub const SCRATCH_MAP: &str = "nfl_stage_vars";

/// How a program is cut: `starts[k]` is the first top-level control
/// statement of stage `k` (`starts[0] == 0`, strictly increasing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagePlan {
    pub starts: Vec<usize>,
}

impl StagePlan {
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The statements of stage `k`.
    pub fn range(&self, k: usize, n_stmts: usize) -> std::ops::Range<usize> {
        let start = self.starts.get(k).copied().unwrap_or(n_stmts);
        let end = self.starts.get(k + 1).copied().unwrap_or(n_stmts);
        start.min(n_stmts)..end.min(n_stmts)
    }

    /// The symbol name of stage `k` of program `name`.
    pub fn program_name(name: &str, k: usize) -> String {
        if k == 0 { name.to_string() } else { format!("{name}_stage{k}") }
    }
}

/// The values a stage boundary carries, in slot order: every metadata
/// field, then the top-level `let`s (in statement order) of all stages but
/// the last (a later stage never reads a `let` of its own or a later one
/// from the map).
pub fn carried_locals(hir: &Hir, plan: &StagePlan) -> Vec<LocalId> {
    let last = plan.starts.last().copied().unwrap_or(0);
    hir.control.stmts[..last.min(hir.control.stmts.len())]
        .iter()
        .filter_map(|s| match s {
            Stmt::Let { local, .. } | Stmt::LetElse { local, .. } => Some(*local),
            _ => None,
        })
        .collect()
}

/// The scratch map's value size for a plan (at least one slot).
pub fn scratch_value_size(hir: &Hir, plan: &StagePlan) -> u32 {
    let slots = hir.metas.len() + carried_locals(hir, plan).len();
    8 * slots.max(1) as u32
}

/// What the builder of stage `index` needs.
#[derive(Clone, Debug)]
pub(crate) struct StageCx {
    pub index: usize,
    pub plan: StagePlan,
    pub scratch: MapId,
    pub progs: MapId,
}

/// The two maps of a split program, appended after all others.
pub(crate) fn stage_maps(hir: &Hir, plan: &StagePlan) -> [MapDef; 2] {
    let n = plan.len() as u32;
    [
        MapDef { name: SCRATCH_MAP.into(), kind: MapKind::PerCpuArray, key_size: 4, value_size: scratch_value_size(hir, plan), max_entries: 1, flags: 0 },
        MapDef { name: PROG_ARRAY.into(), kind: MapKind::ProgArray, key_size: 4, value_size: 4, max_entries: n.max(1), flags: 0 },
    ]
}

impl Builder<'_> {
    /// The variables of the carried values, in slot order.
    fn carried_vars(&self, st: &StageCx) -> Vec<VarId> {
        let locals = carried_locals(self.hir, &st.plan);
        self.metas.iter().copied().chain(locals.iter().map(|l| self.locals[l.index()])).collect()
    }

    /// The scratch value, or the `abort` exit when the lookup fails.
    fn scratch_value(&mut self, st: &StageCx) -> VarId {
        let key: BufId = self.new_buf(4);
        self.push(Inst::BufStore { buf: key, off: 0, bytes: 4, src: Operand::Imm(0) });
        let (p, miss) = self.lookup(st.scratch, key);
        let cont = self.cur;
        self.switch_to(miss);
        self.terminate(Term::Exit(Exit::Return(verdict_code(self.hir.hook, VerdictKind::Abort))));
        self.cur = cont;
        p
    }

    /// Lower the statements of one stage: load what earlier stages left,
    /// run the range, then hand over to the next stage.
    pub(crate) fn lower_stage(&mut self, st: &StageCx) {
        let n = self.hir.control.stmts.len();
        let range = st.plan.range(st.index, n);
        let carried = self.carried_vars(st);
        let first_span = self.hir.control.stmts.get(range.start).map_or(self.hir.control.span, Stmt::span);
        if st.index > 0 {
            self.span = first_span;
            // Only values an earlier stage defined: a `let` of this stage
            // or a later one is not yet in the map.
            let defined_before = self.hir.metas.len() + defined_lets(self.hir, 0..range.start);
            if defined_before > 0 {
                let p = self.scratch_value(st);
                for (slot, v) in carried.iter().take(defined_before).enumerate() {
                    self.push(Inst::MemLoad { dst: *v, ptr: p, off: 8 * slot as u32, bytes: 8 });
                }
            }
            self.recheck_validity(range.start);
        }
        // As a block, so consecutive reshapes resize once and a reshape
        // knows what follows it; after the stage's last statement no
        // pointer matters (the next stage parses again).
        let body = crate::hir::Block { stmts: self.hir.control.stmts[range.clone()].to_vec(), span: first_span };
        self.after.push(vec![false; self.hir.headers.len()]);
        self.lower_block(&body);
        self.after.pop();
        if st.index + 1 < st.plan.len() && self.cur.is_some() {
            self.span = self.hir.control.stmts.get(range.end).map_or(self.hir.control.span, Stmt::span);
            let defined = self.hir.metas.len() + defined_lets(self.hir, 0..range.end);
            if defined > 0 {
                let p = self.scratch_value(st);
                for (slot, v) in carried.iter().take(defined).enumerate() {
                    self.push(Inst::MemStore { ptr: p, off: 8 * slot as u32, bytes: 8, src: Operand::Var(*v) });
                }
            }
            let ctx = self.func.ctx;
            self.push(Inst::TailCall { ctx, map: st.progs, index: st.index as u32 + 1 });
            self.terminate(Term::Exit(Exit::Return(verdict_code(self.hir.hook, VerdictKind::Abort))));
        }
    }
}

impl Builder<'_> {
    /// What the checker knew valid where the stage starts, tested again on
    /// the rebuilt flags: the same packet parses the same way, so the tests
    /// always pass, but they tell the verifier which pointers it may use.
    fn recheck_validity(&mut self, at: usize) {
        let Some(Some(facts)) = self.hir.cut_points.get(at) else { return };
        for r in facts {
            let (ok, bad) = (self.new_block(), self.new_block());
            self.test_flag(self.valid_of(*r), ok, bad);
            self.switch_to(bad);
            self.terminate(Term::Exit(Exit::Return(verdict_code(self.hir.hook, VerdictKind::Abort))));
            self.switch_to(ok);
        }
    }
}

/// How many top-level `let`s the statements `range` hold.
fn defined_lets(hir: &Hir, range: std::ops::Range<usize>) -> usize {
    hir.control.stmts[range].iter().filter(|s| matches!(s, Stmt::Let { .. } | Stmt::LetElse { .. })).count()
}
