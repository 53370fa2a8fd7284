//! `for` loops the checker kept (`Stmt::Loop`): lowered as a bounded loop
//! — one copy of the body, a counter the verifier follows exactly, so its
//! cost is the unrolled cost — or, where kfuncs may be called and that
//! cost would be large, as an open-coded numeric iterator
//! (`bpf_iter_num_new/next/destroy`), whose body the verifier checks
//! about once. docs/decisions.md ("Loops: unrolled, bounded, or an
//! iterator").

use super::Builder;
use crate::hir::{Block, LocalId};
use crate::ir::{AluOp, BlockId, CmpOp, Inst, Kcall, MapDef, MapId, MapKind, Operand, Term, VarId, VarKind};

/// The per-CPU map that holds `meta` fields across an iterator loop.
pub const LOOP_SCRATCH_MAP: &str = "nfl_loop_meta";

/// A bounded loop is chosen while iterations × body stays under this many
/// estimated processed instructions (a tenth of the verifier's budget).
pub const BOUNDED_BUDGET: u64 = 100_000;

impl Builder<'_> {
    pub(crate) fn lower_loop(&mut self, var: LocalId, (start, end): (u64, u64), body: &Block, (cost, line, forks): (u64, usize, bool)) {
        self.sketch_memo = None;
        let n = end - start;
        let processed = n.saturating_mul(cost.max(1));
        // A branch the verifier cannot decide (`forks`, from the checker)
        // forks every pass, and the forks of a counted loop rarely merge:
        // no estimate holds.
        let too_costly = forks || processed > BOUNDED_BUDGET;
        if self.target.has_graph_kfuncs() && too_costly {
            let why = if forks { "its body branches on packet or state data".to_string() } else { format!("a bounded loop would cost the verifier about {processed} instructions") };
            self.explain.push(format!("loop at line {line}: {n} iterations as an open-coded iterator (bpf_iter_num; {why})"));
            self.iter_loop(var, (start, end), body);
        } else {
            let note = match (forks, processed > BOUNDED_BUDGET) {
                (true, _) => "; its body branches on packet or state data, which forks the verifier every pass: `--target stock` uses an open-coded iterator".to_string(),
                (false, true) => "; over budget: `--target stock` uses an open-coded iterator".to_string(),
                _ => String::new(),
            };
            self.explain.push(format!("loop at line {line}: {n} iterations as a bounded loop (about {processed} instructions for the verifier{note})"));
            self.bounded_loop(var, (start, end), body);
        }
        self.sketch_memo = None;
    }

    fn bounded_loop(&mut self, var: LocalId, (start, end): (u64, u64), body: &Block) {
        let i = self.locals[var.index()];
        let width = self.hir.locals[var.index()].ty.width().max(32);
        self.push(Inst::Const { dst: i, value: start });
        let (head, pass, done) = (self.new_block(), self.new_block(), self.new_block());
        self.terminate(Term::Jump(head));
        self.switch_to(head);
        self.branch(CmpOp::Lt, Operand::Var(i), Operand::Imm(end), 64, pass, done);
        self.switch_to(pass);
        self.lower_block(body);
        if self.cur.is_some() {
            let next = self.alu(AluOp::Add, Operand::Var(i), Operand::Imm(1), width);
            self.assign(i, next);
            self.terminate(Term::Jump(head));
        }
        self.switch_to(done);
    }

    /// `bpf_iter_num_new(&it, start, end)`; `while (p = next(&it)) { i =
    /// *p; body }`; `destroy(&it)` — also before every exit the body
    /// takes, since the verifier refuses a program that ends holding one.
    ///
    /// The verifier accepts an iterator loop once the state at its head
    /// repeats; a `meta` field the body changes (a counter) would differ
    /// every time. So across the loop the fields live in a per-CPU scratch
    /// value, which the verifier does not track: stored before, loaded at
    /// the start of each pass and stored at its end, loaded after.
    fn iter_loop(&mut self, var: LocalId, (start, end): (u64, u64), body: &Block) {
        let i = self.locals[var.index()];
        let metas = self.metas.clone();
        let scratch = if metas.is_empty() {
            None
        } else {
            let map = self.loop_scratch();
            Some(self.first_value(map))
        };
        let it = self.new_buf(8);
        let addr = |b: &mut Self| {
            let p = b.new_var(VarKind::StackPtr);
            b.push(Inst::BufAddr { dst: p, buf: it });
            p
        };
        let (lo, hi) = (self.new_var(VarKind::Scalar), self.new_var(VarKind::Scalar));
        self.push(Inst::Const { dst: lo, value: start });
        self.push(Inst::Const { dst: hi, value: end });
        let p = addr(self);
        self.push(Inst::Kcall { dst: None, call: Kcall::IterNumNew, args: vec![p, lo, hi] });
        self.spill_metas(scratch, &metas, true);
        let (head, got, done) = (self.new_block(), self.new_block(), self.new_block());
        self.terminate(Term::Jump(head));
        self.switch_to(head);
        let p = addr(self);
        let next = self.new_var(VarKind::AllocOrNull);
        self.push(Inst::Kcall { dst: Some(next), call: Kcall::IterNumNext, args: vec![p] });
        self.terminate(Term::Branch { op: CmpOp::Eq, lhs: next, rhs: Operand::Imm(0), width: 64, then_bb: done, else_bb: got });
        self.switch_to(got);
        let elem = self.new_var(VarKind::Alloc);
        self.push(Inst::Copy { dst: elem, src: next });
        self.push(Inst::MemLoad { dst: i, ptr: elem, off: 0, bytes: 4 });
        self.spill_metas(scratch, &metas, false);
        let first_body_block = BlockId(self.func.blocks.len() as u32);
        self.lower_block(body);
        if self.cur.is_some() {
            self.spill_metas(scratch, &metas, true);
            self.terminate(Term::Jump(head));
        }
        let body_end = self.func.blocks.len() as u32;
        self.destroy_before_exits(first_body_block.0..body_end, it);
        self.switch_to(done);
        let p = addr(self);
        self.push(Inst::Kcall { dst: None, call: Kcall::IterNumDestroy, args: vec![p] });
        self.spill_metas(scratch, &metas, false);
    }

    /// The scratch map (one per program, created on first use).
    fn loop_scratch(&mut self) -> MapId {
        if let Some(i) = self.func.maps.iter().position(|m| m.name == LOOP_SCRATCH_MAP) {
            return MapId(i as u32);
        }
        let value_size = (8 * self.metas.len() as u32).max(8);
        self.func.maps.push(MapDef { name: LOOP_SCRATCH_MAP.into(), kind: MapKind::PerCpuArray, key_size: 4, value_size, max_entries: 1, flags: 0 });
        MapId(self.func.maps.len() as u32 - 1)
    }

    /// Store every `meta` field into the scratch value (`store`), or load
    /// them from it. The value is looked up once, before the loop.
    fn spill_metas(&mut self, scratch: Option<VarId>, metas: &[VarId], store: bool) {
        let Some(v) = scratch else { return };
        for (k, &m) in metas.iter().enumerate() {
            let off = 8 * k as u32;
            if store {
                self.push(Inst::MemStore { ptr: v, off, bytes: 8, src: Operand::Var(m) });
            } else {
                self.push(Inst::MemLoad { dst: m, ptr: v, off, bytes: 8 });
            }
        }
    }

    /// Every block built for the body that leaves the program destroys
    /// the iterator first.
    fn destroy_before_exits(&mut self, blocks: std::ops::Range<u32>, it: crate::ir::BufId) {
        for b in blocks {
            if !matches!(self.func.blocks[b as usize].term, Term::Exit(_)) {
                continue;
            }
            let p = self.new_var(VarKind::StackPtr);
            let block = &mut self.func.blocks[b as usize];
            let span = block.term_span;
            block.insts.push(Inst::BufAddr { dst: p, buf: it });
            block.insts.push(Inst::Kcall { dst: None, call: Kcall::IterNumDestroy, args: vec![p] });
            block.spans.extend([span, span]);
        }
    }
}
