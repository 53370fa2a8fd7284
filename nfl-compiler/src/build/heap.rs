//! The `helpers` pqueue: a bounded binary min-heap in one array value,
//! under the value's spin lock.
//!
//! Value: `lock`, `count: u32`, `next_seq: u64`, then `slots` entries of
//! `{rank, seq, value}` (u64 each). Entries order by `(rank, seq)`; the
//! sequence number is taken at push, so equal ranks leave in push order
//! (kfunc-lib's `PQueue`). Sift-up and sift-down are unrolled to
//! `log2(slots)` levels (the heap's height); indices are masked so the
//! verifier bounds every access. The index moving down (or up) the heap
//! goes through the value's `cursor` word between levels: read back from
//! a map value it is an unknown scalar to the verifier, whose states then
//! prune level by level, instead of tracking every path of constant
//! indices (2^levels of them).

use super::Builder;
use super::queue::{COUNT_OFF, HEAP_CURSOR, HEAP_ENTS, HEAP_STRIDE as STRIDE, WORD_OFF, heap_slots};
use crate::hir::QueueId;
use crate::ir::{AluOp, BlockId, CmpOp, Operand, Term, VarId, VarKind};

impl Builder<'_> {
    fn heap_shape(&self, q: QueueId) -> (u32, u32, u32) {
        let h = &self.hir.queues[q.index()];
        let slots = heap_slots(h);
        (h.size, slots - 1, slots.trailing_zeros().max(1))
    }

    fn ent(&mut self, p: VarId, idx: Operand, mask: u32) -> VarId {
        self.elem_ptr(p, HEAP_ENTS, idx, mask, STRIDE)
    }

    fn copy_ent(&mut self, from: VarId, to: VarId) {
        for off in [0, 8, 16] {
            let w = self.load(from, off, 8);
            self.store(to, off, 8, Operand::Var(w));
        }
    }

    /// `(ar, as) < (br, bs)` lexicographically: to `yes` or `no`.
    fn rank_less(&mut self, a: (VarId, VarId), b: (VarId, VarId), yes: BlockId, no: BlockId) {
        let (not_lt, eq) = (self.new_block(), self.new_block());
        self.branch(
            CmpOp::Lt,
            Operand::Var(a.0),
            Operand::Var(b.0),
            64,
            yes,
            not_lt,
        );
        self.switch_to(not_lt);
        self.branch(CmpOp::Eq, Operand::Var(a.0), Operand::Var(b.0), 64, eq, no);
        self.switch_to(eq);
        self.branch(CmpOp::Lt, Operand::Var(a.1), Operand::Var(b.1), 64, yes, no);
    }

    pub(crate) fn heap_push(
        &mut self,
        q: QueueId,
        rank: Operand,
        v: Operand,
        res: VarId,
        join: BlockId,
    ) {
        let (size, mask, levels) = self.heap_shape(q);
        let rank = self.to_var(rank);
        let (p, miss) = self.lock_value(q);
        let (n, go) = self.unlock_if_full(p, size);
        self.terminate(Term::Jump(join));
        self.switch_to(go);
        let seq = self.load(p, WORD_OFF, 8);
        let next = self.alu(AluOp::Add, Operand::Var(seq), Operand::Imm(1), 64);
        self.store(p, WORD_OFF, 8, next);
        let n1 = self.alu(AluOp::Add, Operand::Var(n), Operand::Imm(1), 32);
        self.store(p, COUNT_OFF, 4, n1);
        let i = self.new_var(VarKind::Scalar);
        self.store(p, HEAP_CURSOR, 8, Operand::Var(n));
        let place = self.new_block();
        // The new sequence number is the largest: only a smaller rank
        // moves the new entry above its parent.
        for _ in 0..levels {
            let (up, mv, next_level) = (self.new_block(), self.new_block(), self.new_block());
            self.push(crate::ir::Inst::MemLoad {
                dst: i,
                ptr: p,
                off: HEAP_CURSOR,
                bytes: 8,
            });
            self.branch(CmpOp::Eq, Operand::Var(i), Operand::Imm(0), 64, place, up);
            self.switch_to(up);
            let im1 = self.alu(AluOp::Sub, Operand::Var(i), Operand::Imm(1), 64);
            let parent = self.alu(AluOp::Shr, im1, Operand::Imm(1), 64);
            let pe = self.ent(p, parent, mask);
            let prank = self.load(pe, 0, 8);
            self.branch(
                CmpOp::Lt,
                Operand::Var(rank),
                Operand::Var(prank),
                64,
                mv,
                place,
            );
            self.switch_to(mv);
            let ie = self.ent(p, Operand::Var(i), mask);
            self.copy_ent(pe, ie);
            self.store(p, HEAP_CURSOR, 8, parent);
            self.terminate(Term::Jump(next_level));
            self.switch_to(next_level);
        }
        self.terminate(Term::Jump(place));
        self.switch_to(place);
        let at = self.load(p, HEAP_CURSOR, 8);
        let ie = self.ent(p, Operand::Var(at), mask);
        self.store(ie, 0, 8, Operand::Var(rank));
        self.store(ie, 8, 8, Operand::Var(seq));
        self.store(ie, 16, 8, v);
        self.unlock(p);
        self.push(crate::ir::Inst::Const { dst: res, value: 1 });
        self.terminate(Term::Jump(join));
        self.switch_to(miss);
        self.terminate(Term::Jump(join));
    }

    /// `pop_min` (or `peek`) into `dst`; falls through where present.
    pub(crate) fn heap_take(&mut self, q: QueueId, peek: bool, dst: VarId, absent: BlockId) {
        let (_, mask, levels) = self.heap_shape(q);
        let (p, miss) = self.lock_value(q);
        let n = self.load(p, COUNT_OFF, 4);
        let (empty, some) = (self.new_block(), self.new_block());
        self.branch(CmpOp::Eq, Operand::Var(n), Operand::Imm(0), 64, empty, some);
        self.switch_to(empty);
        self.unlock(p);
        self.terminate(Term::Jump(absent));
        self.switch_to(miss);
        self.terminate(Term::Jump(absent));
        self.switch_to(some);
        self.push(crate::ir::Inst::MemLoad {
            dst,
            ptr: p,
            off: HEAP_ENTS + 16,
            bytes: 8,
        });
        if peek {
            self.unlock(p);
            return;
        }
        let n1 = self.alu(AluOp::Sub, Operand::Var(n), Operand::Imm(1), 32);
        self.store(p, COUNT_OFF, 4, n1);
        let le = self.ent(p, n1, mask);
        let last = (self.load(le, 0, 8), self.load(le, 8, 8));
        let lval = self.load(le, 16, 8);
        self.store(p, HEAP_CURSOR, 8, Operand::Imm(0));
        let place = self.new_block();
        for _ in 0..levels {
            let i = self.load(p, HEAP_CURSOR, 8);
            self.sift_down_level(p, mask, i, n1, last, place);
        }
        self.terminate(Term::Jump(place));
        self.switch_to(place);
        let at = self.load(p, HEAP_CURSOR, 8);
        let ie = self.ent(p, Operand::Var(at), mask);
        self.store(ie, 0, 8, Operand::Var(last.0));
        self.store(ie, 8, 8, Operand::Var(last.1));
        self.store(ie, 16, 8, Operand::Var(lval));
        self.unlock(p);
    }

    /// One level: move the smaller child of `i` up if it is below `last`.
    fn sift_down_level(
        &mut self,
        p: VarId,
        mask: u32,
        i: VarId,
        n: Operand,
        last: (VarId, VarId),
        place: BlockId,
    ) {
        let twice = self.alu(AluOp::Shl, Operand::Var(i), Operand::Imm(1), 64);
        let c = self.alu(AluOp::Add, twice, Operand::Imm(1), 64);
        let has_child = self.new_block();
        self.branch(CmpOp::Ge, c, n, 64, place, has_child);
        self.switch_to(has_child);
        let best = self.new_var(VarKind::Scalar);
        self.assign(best, c);
        let ce = self.ent(p, c, mask);
        let (br, bs) = (self.load(ce, 0, 8), self.load(ce, 8, 8));
        let (second, right_less, compare) = (self.new_block(), self.new_block(), self.new_block());
        let c2 = self.alu(AluOp::Add, c, Operand::Imm(1), 64);
        self.branch(CmpOp::Ge, c2, n, 64, compare, second);
        self.switch_to(second);
        let c2e = self.ent(p, c2, mask);
        let (r2, s2) = (self.load(c2e, 0, 8), self.load(c2e, 8, 8));
        self.rank_less((r2, s2), (br, bs), right_less, compare);
        self.switch_to(right_less);
        self.assign(best, c2);
        self.assign(br, Operand::Var(r2));
        self.assign(bs, Operand::Var(s2));
        self.terminate(Term::Jump(compare));
        self.switch_to(compare);
        let mv = self.new_block();
        self.rank_less((br, bs), last, mv, place);
        self.switch_to(mv);
        let be = self.ent(p, Operand::Var(best), mask);
        let ie = self.ent(p, Operand::Var(i), mask);
        self.copy_ent(be, ie);
        self.store(p, HEAP_CURSOR, 8, Operand::Var(best));
    }
}
