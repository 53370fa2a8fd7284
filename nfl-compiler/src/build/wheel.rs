//! Timing wheels (Carousel-style), the same in every profile.
//!
//! Value `struct nfl_q_<name>`: `lock`, `count: u32`, `base: u64` (the
//! wheel's clock, in ticks), `bitmap: u64` (bit `s` set when slot `s`
//! holds something), per slot `{head: u32, len: u32}`, then `slots ×
//! slot_cap` elements (u64). Slot `s` holds the elements due at the one
//! tick `t` in `[base, base + slots)` with `t % slots == s`, oldest first.
//!
//! - `push(when, v)`: `t = when / tick`; an empty wheel moves its clock to
//!   `t`; `t < base` counts as `base` (already due); `t >= base + slots`
//!   (beyond the horizon) or a full slot refuses the element.
//! - `pop_due(now)`: the first non-empty slot at or after `base` (ffs of
//!   the occupancy word rotated to `base`, a software count of trailing
//!   zeros as kfunc-lib's `soft_tzcnt64`); when its tick is at most
//!   `now / tick`, take its oldest element and move the clock there;
//!   otherwise nothing, and the clock moves up to `now / tick`.

use super::Builder;
use super::queue::{COUNT_OFF, WHEEL_BITMAP_OFF as BITMAP_OFF, WHEEL_SLOTS_OFF as SLOTS_OFF, WORD_OFF};
use crate::hir::QueueId;
use crate::ir::{AluOp, BlockId, CmpOp, Inst, Operand, Term, VarId, VarKind};

impl Builder<'_> {
    /// `(slots, slot_cap, tick_ns, offset of the elements)`
    fn wheel_shape(&self, q: QueueId) -> (u32, u32, u64, u32) {
        let h = &self.hir.queues[q.index()];
        (h.slots, h.slot_cap, h.tick_ns, SLOTS_OFF + 8 * h.slots)
    }

    /// Count of trailing zeros of `x` (64 when 0), by binary search.
    fn soft_tzcnt64(&mut self, x: Operand) -> VarId {
        let (n, x0) = (self.new_var(VarKind::Scalar), self.new_var(VarKind::Scalar));
        self.push(Inst::Const { dst: n, value: 0 });
        self.assign(x0, x);
        let (zero, nonzero, done) = (self.new_block(), self.new_block(), self.new_block());
        self.branch(
            CmpOp::Eq,
            Operand::Var(x0),
            Operand::Imm(0),
            64,
            zero,
            nonzero,
        );
        self.switch_to(zero);
        self.push(Inst::Const { dst: n, value: 64 });
        self.terminate(Term::Jump(done));
        self.switch_to(nonzero);
        for bits in [32u64, 16, 8, 4, 2, 1] {
            let low = self.alu(
                AluOp::And,
                Operand::Var(x0),
                Operand::Imm((1u64 << bits) - 1),
                64,
            );
            let (shift, next) = (self.new_block(), self.new_block());
            self.branch(CmpOp::Eq, low, Operand::Imm(0), 64, shift, next);
            self.switch_to(shift);
            let n2 = self.alu(AluOp::Add, Operand::Var(n), Operand::Imm(bits), 64);
            self.assign(n, n2);
            let x2 = self.alu(AluOp::Shr, Operand::Var(x0), Operand::Imm(bits), 64);
            self.assign(x0, x2);
            self.terminate(Term::Jump(next));
            self.switch_to(next);
        }
        self.terminate(Term::Jump(done));
        self.switch_to(done);
        n
    }

    pub(crate) fn wheel_push(
        &mut self,
        q: QueueId,
        when: Operand,
        v: Operand,
        res: VarId,
        join: BlockId,
    ) {
        let (slots, cap, tick, ents) = self.wheel_shape(q);
        let t0 = self.alu(AluOp::Div, when, Operand::Imm(tick), 64);
        let t = self.new_var(VarKind::Scalar);
        self.assign(t, t0);
        let (p, miss) = self.lock_value(q);
        let cnt = self.load(p, COUNT_OFF, 4);
        let base = self.load(p, WORD_OFF, 8);
        let (reset, check, clamp, rel) = (
            self.new_block(),
            self.new_block(),
            self.new_block(),
            self.new_block(),
        );
        self.branch(
            CmpOp::Eq,
            Operand::Var(cnt),
            Operand::Imm(0),
            64,
            reset,
            check,
        );
        self.switch_to(reset);
        self.store(p, WORD_OFF, 8, Operand::Var(t));
        self.assign(base, Operand::Var(t));
        self.terminate(Term::Jump(check));
        self.switch_to(check);
        self.branch(
            CmpOp::Lt,
            Operand::Var(t),
            Operand::Var(base),
            64,
            clamp,
            rel,
        );
        self.switch_to(clamp);
        self.assign(t, Operand::Var(base));
        self.terminate(Term::Jump(rel));
        self.switch_to(rel);
        let d = self.alu(AluOp::Sub, Operand::Var(t), Operand::Var(base), 64);
        let (full, fits, room) = (self.new_block(), self.new_block(), self.new_block());
        self.branch(CmpOp::Ge, d, Operand::Imm(u64::from(slots)), 64, full, fits);
        self.switch_to(fits);
        let s = self.alu(
            AluOp::And,
            Operand::Var(t),
            Operand::Imm(u64::from(slots - 1)),
            64,
        );
        let m = self.elem_ptr(p, SLOTS_OFF, s, slots - 1, 8);
        let head = self.load(m, 0, 4);
        let len = self.load(m, 4, 4);
        self.branch(
            CmpOp::Ge,
            Operand::Var(len),
            Operand::Imm(u64::from(cap)),
            64,
            full,
            room,
        );
        self.switch_to(room);
        let pos = self.alu(AluOp::Add, Operand::Var(head), Operand::Var(len), 64);
        let pos = self.alu(AluOp::And, pos, Operand::Imm(u64::from(cap - 1)), 64);
        let row = self.alu(AluOp::Mul, s, Operand::Imm(u64::from(cap)), 64);
        let idx = self.alu(AluOp::Add, row, pos, 64);
        let e = self.elem_ptr(p, ents, idx, slots * cap - 1, 8);
        self.store(e, 0, 8, v);
        let len1 = self.alu(AluOp::Add, Operand::Var(len), Operand::Imm(1), 32);
        self.store(m, 4, 4, len1);
        let cnt1 = self.alu(AluOp::Add, Operand::Var(cnt), Operand::Imm(1), 32);
        self.store(p, COUNT_OFF, 4, cnt1);
        let bm = self.load(p, BITMAP_OFF, 8);
        let bit = self.alu(AluOp::Shl, Operand::Imm(1), s, 64);
        let bm = self.alu(AluOp::Or, Operand::Var(bm), bit, 64);
        self.store(p, BITMAP_OFF, 8, bm);
        self.unlock(p);
        self.push(Inst::Const { dst: res, value: 1 });
        self.terminate(Term::Jump(join));
        self.switch_to(full);
        self.unlock(p);
        self.terminate(Term::Jump(join));
        self.switch_to(miss);
        self.terminate(Term::Jump(join));
    }

    pub(crate) fn wheel_pop_due(&mut self, q: QueueId, now: Operand, dst: VarId, absent: BlockId) {
        let (slots, cap, tick, ents) = self.wheel_shape(q);
        let nt = self.alu(AluOp::Div, now, Operand::Imm(tick), 64);
        let nt = self.to_var(nt);
        let (p, miss) = self.lock_value(q);
        let locked = self.cur;
        self.switch_to(miss);
        self.terminate(Term::Jump(absent));
        self.cur = locked;
        let cnt = self.load(p, COUNT_OFF, 4);
        let (empty, some) = (self.new_block(), self.new_block());
        self.branch(
            CmpOp::Eq,
            Operand::Var(cnt),
            Operand::Imm(0),
            64,
            empty,
            some,
        );
        self.switch_to(empty);
        self.unlock(p);
        self.terminate(Term::Jump(absent));
        self.switch_to(some);
        let base = self.load(p, WORD_OFF, 8);
        let bm = self.load(p, BITMAP_OFF, 8);
        let b = self.alu(
            AluOp::And,
            Operand::Var(base),
            Operand::Imm(u64::from(slots - 1)),
            64,
        );
        // Distance from the base slot to the first occupied one.
        let d = self.new_var(VarKind::Scalar);
        let hi = self.alu(AluOp::Shr, Operand::Var(bm), b, 64);
        let (near, far, found) = (self.new_block(), self.new_block(), self.new_block());
        self.branch(CmpOp::Ne, hi, Operand::Imm(0), 64, near, far);
        self.switch_to(near);
        let z = self.soft_tzcnt64(hi);
        self.assign(d, Operand::Var(z));
        self.terminate(Term::Jump(found));
        self.switch_to(far);
        let z = self.soft_tzcnt64(Operand::Var(bm));
        let wrap = self.alu(AluOp::Sub, Operand::Imm(u64::from(slots)), b, 64);
        let dz = self.alu(AluOp::Add, wrap, Operand::Var(z), 64);
        self.assign(d, dz);
        self.terminate(Term::Jump(found));
        self.switch_to(found);
        let due = self.alu(AluOp::Add, Operand::Var(base), Operand::Var(d), 64);
        let (later, take, advance, unlock_absent) = (
            self.new_block(),
            self.new_block(),
            self.new_block(),
            self.new_block(),
        );
        self.branch(CmpOp::Gt, due, Operand::Var(nt), 64, later, take);
        // Nothing due: the clock still moves up to now.
        self.switch_to(later);
        self.branch(
            CmpOp::Gt,
            Operand::Var(nt),
            Operand::Var(base),
            64,
            advance,
            unlock_absent,
        );
        self.switch_to(advance);
        self.store(p, WORD_OFF, 8, Operand::Var(nt));
        self.terminate(Term::Jump(unlock_absent));
        self.switch_to(unlock_absent);
        self.unlock(p);
        self.terminate(Term::Jump(absent));
        self.switch_to(take);
        let bd = self.alu(AluOp::Add, b, Operand::Var(d), 64);
        let s = self.alu(AluOp::And, bd, Operand::Imm(u64::from(slots - 1)), 64);
        let m = self.elem_ptr(p, SLOTS_OFF, s, slots - 1, 8);
        let head = self.load(m, 0, 4);
        let len = self.load(m, 4, 4);
        let row = self.alu(AluOp::Mul, s, Operand::Imm(u64::from(cap)), 64);
        let hm = self.alu(
            AluOp::And,
            Operand::Var(head),
            Operand::Imm(u64::from(cap - 1)),
            64,
        );
        let idx = self.alu(AluOp::Add, row, hm, 64);
        let e = self.elem_ptr(p, ents, idx, slots * cap - 1, 8);
        self.push(Inst::MemLoad {
            dst,
            ptr: e,
            off: 0,
            bytes: 8,
        });
        let h1 = self.alu(AluOp::Add, Operand::Var(head), Operand::Imm(1), 64);
        let h1 = self.alu(AluOp::And, h1, Operand::Imm(u64::from(cap - 1)), 64);
        self.store(m, 0, 4, h1);
        let len1 = self.alu(AluOp::Sub, Operand::Var(len), Operand::Imm(1), 32);
        self.store(m, 4, 4, len1);
        let cnt1 = self.alu(AluOp::Sub, Operand::Var(cnt), Operand::Imm(1), 32);
        self.store(p, COUNT_OFF, 4, cnt1);
        self.store(p, WORD_OFF, 8, due);
        let (clear, done) = (self.new_block(), self.new_block());
        self.branch(CmpOp::Eq, len1, Operand::Imm(0), 64, clear, done);
        self.switch_to(clear);
        let bit = self.alu(AluOp::Shl, Operand::Imm(1), s, 64);
        let keep = self.alu(AluOp::Xor, bit, Operand::Imm(u64::MAX), 64);
        let bm2 = self.alu(AluOp::And, Operand::Var(bm), keep, 64);
        self.store(p, BITMAP_OFF, 8, bm2);
        self.terminate(Term::Jump(done));
        self.switch_to(done);
        self.unlock(p);
    }
}
