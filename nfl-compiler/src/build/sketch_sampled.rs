//! The sketches built on count-min and count-sketch counters that keep
//! more state: a top-k's candidate keys and NitroSketch's sampler. Rules
//! as docs/kfunc-lib.md gives them (the twin's `nitro.rs`).

use super::Builder;
use super::sketch::{KeyHash, NITRO_POOL_LEN};
use crate::hir::{Expr, SketchId};
use crate::ir::{AluOp, CmpOp, Call, Inst, Operand, Term, VarId, VarKind};

/// `BPF_NOEXIST`
const NOEXIST: u64 = 1;

impl Builder<'_> {
    /// Refresh the key in the candidate LRU hash, or add it there.
    pub(super) fn topk_candidate(&mut self, sketch: SketchId, key: &[Expr]) {
        let map = self.sketch_maps[sketch.index()][1];
        let buf = self.state_key_of(key);
        let (_, miss) = self.lookup(map, buf);
        let join = self.new_block();
        self.terminate(Term::Jump(join));
        self.switch_to(miss);
        let zero = self.zero_buf();
        self.push(Inst::Call { dst: None, call: Call::MapUpdate { map, key: buf, value: zero, flags: NOEXIST } });
        self.terminate(Term::Jump(join));
        self.switch_to(join);
    }

    /// NitroSketch: row `i` is updated when the CPU's `skip` is 0 (then
    /// `skip` = the next gap of the pool − 1), else `skip` counts down.
    /// A packet with `skip ≥ rows` only subtracts `rows`: it reads the
    /// sampler state and nothing else (no hashing, no other lookup).
    pub(super) fn nitro_add(&mut self, sketch: SketchId, key: &[Expr], amount: &Expr) {
        let s = &self.hir.sketches[sketch.index()];
        let (rows, cols, d) = (s.rows, s.cols, s.sample_log2);
        let maps = self.sketch_maps[sketch.index()].clone();
        let done = self.new_block();
        let st = self.first_value(maps[1]);
        let skip = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: skip, ptr: st, off: 0, bytes: 4 });
        let (fast, slow) = (self.new_block(), self.new_block());
        self.branch(CmpOp::Ge, Operand::Var(skip), Operand::Imm(u64::from(rows)), 32, fast, slow);
        self.switch_to(fast);
        let left = self.alu32(AluOp::Sub, Operand::Var(skip), Operand::Imm(u64::from(rows)));
        self.push(Inst::MemStore { ptr: st, off: 0, bytes: 4, src: left });
        self.terminate(Term::Jump(done));
        self.switch_to(slow);
        let kh = self.hash_key(key);
        let amount = self.value(amount, None);
        let inc = self.alu32(AluOp::Shl, amount, Operand::Imm(u64::from(d)));
        let counters = self.first_value(maps[0]);
        let pool = self.first_value(maps[2]);
        // With `skip < rows` a row is sampled: the cursor is read once and
        // written once, after the rows.
        let cursor = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: cursor, ptr: st, off: 4, bytes: 4 });
        for i in 0..rows {
            let (hit, next) = (self.new_block(), self.new_block());
            let count_down = self.new_block();
            self.branch(CmpOp::Eq, Operand::Var(skip), Operand::Imm(0), 32, hit, count_down);
            self.switch_to(count_down);
            let less = self.alu32(AluOp::Sub, Operand::Var(skip), Operand::Imm(1));
            self.assign(skip, less);
            self.terminate(Term::Jump(next));
            self.switch_to(hit);
            let h = self.row_hash(&kh, i);
            self.count_row(counters, h, i, cols, inc, true);
            self.next_gap(pool, skip, cursor);
            self.terminate(Term::Jump(next));
            self.switch_to(next);
        }
        self.push(Inst::MemStore { ptr: st, off: 0, bytes: 4, src: Operand::Var(skip) });
        self.push(Inst::MemStore { ptr: st, off: 4, bytes: 4, src: Operand::Var(cursor) });
        self.terminate(Term::Jump(done));
        self.switch_to(done);
    }

    /// `skip = pool[cursor] - 1; cursor = (cursor + 1) mod len`.
    fn next_gap(&mut self, pool: VarId, skip: VarId, cursor: VarId) {
        let idx = self.alu32(AluOp::And, Operand::Var(cursor), Operand::Imm(u64::from(NITRO_POOL_LEN - 1)));
        let off = self.alu(AluOp::Shl, idx, Operand::Imm(2), 64);
        let q = self.new_var(VarKind::MapValue);
        self.push(Inst::PtrAdd { dst: q, ptr: pool, off });
        let gap = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: gap, ptr: q, off: 0, bytes: 4 });
        let g = self.alu32(AluOp::Sub, Operand::Var(gap), Operand::Imm(1));
        self.assign(skip, g);
        let next = self.alu32(AluOp::Add, idx, Operand::Imm(1));
        let next = self.alu32(AluOp::And, next, Operand::Imm(u64::from(NITRO_POOL_LEN - 1)));
        self.assign(cursor, next);
    }

    /// A count sketch's estimate (NitroSketch's too): the median of the
    /// rows' signed counters, as the twin computes it, into `res`; a
    /// negative estimate reads as 0. Signed values are compared as
    /// unsigned after flipping their sign bit (`x ^ 2^31` keeps the order),
    /// and sorted by a compare-exchange network.
    pub(super) fn median_query(&mut self, p: VarId, kh: &KeyHash, rows: u32, cols: u32, res: VarId) {
        const BIAS: u64 = 1 << 31;
        let mut vals = Vec::new();
        for i in 0..rows {
            let h = self.row_hash(kh, i);
            let (q, off) = self.cell(p, h, cols - 1, u64::from(i * cols) * 4);
            let c = self.new_var(VarKind::Scalar);
            self.push(Inst::MemLoad { dst: c, ptr: q, off, bytes: 4 });
            let v = self.signed(h, Operand::Var(c));
            let b = self.alu32(AluOp::Xor, v, Operand::Imm(BIAS));
            let var = self.new_var(VarKind::Scalar);
            self.assign(var, b);
            vals.push(var);
        }
        let n = vals.len();
        for pass in 0..n {
            for j in 0..n - 1 - pass {
                self.compare_exchange(vals[j], vals[j + 1]);
            }
        }
        let m = if n % 2 == 1 {
            Operand::Var(vals[n / 2])
        } else {
            let sum = self.alu(AluOp::Add, Operand::Var(vals[n / 2 - 1]), Operand::Var(vals[n / 2]), 64);
            self.alu(AluOp::Shr, sum, Operand::Imm(1), 64)
        };
        let (positive, done) = (self.new_block(), self.new_block());
        self.branch(CmpOp::Lt, m, Operand::Imm(BIAS), 64, done, positive);
        self.switch_to(positive);
        let est = self.alu(AluOp::Sub, m, Operand::Imm(BIAS), 64);
        self.assign(res, est);
        self.terminate(Term::Jump(done));
        self.switch_to(done);
    }

    /// Order two variables: `a <= b` after.
    fn compare_exchange(&mut self, a: VarId, b: VarId) {
        let (swap, next) = (self.new_block(), self.new_block());
        self.branch(CmpOp::Gt, Operand::Var(a), Operand::Var(b), 64, swap, next);
        self.switch_to(swap);
        let t = self.new_var(VarKind::Scalar);
        self.push(Inst::Copy { dst: t, src: a });
        self.push(Inst::Copy { dst: a, src: b });
        self.push(Inst::Copy { dst: b, src: t });
        self.terminate(Term::Jump(next));
        self.switch_to(next);
    }
}
