//! Sketches in pure eBPF (the `helpers` lowering, which `stock` shares:
//! the kernel has no built-in hashing or bit-scan kfuncs).
//!
//! Every rule here is the contract of docs/kfunc-lib.md, which the Rust
//! twin in `kfunc-lib` follows, so that the control plane decodes exactly
//! what the kernel wrote:
//! - the key is laid out like a state-map key (`state_key_layout`: slots
//!   little-endian, padded to 4 bytes) and hashed as 32-bit words, without
//!   going through memory;
//! - row `i` uses `murmur3_32(key, seed(i))`, `seed(i) = (i + 1) · 0x9E3779B9`.
//!   The per-word mixing before the seed enters is shared by all rows;
//! - count-min and count sketch counters are one array value, row-major,
//!   updated with atomic adds; a Bloom filter's 32-bit words with atomic
//!   ors; HyperLogLog registers are bytes in a per-CPU value (merged by
//!   max when read).

use super::Builder;
use super::state::expr_key_layout;
use crate::hir::{Expr, SketchHir, SketchId, SketchKind};
use crate::ir::{AluOp, AtomicOp, BlockId, CmpOp, Inst, Kcall, MapDef, MapId, MapKind, Operand, Term, VarId, VarKind};
use crate::target::Target;

const C1: u64 = 0xcc9e_2d51;
const C2: u64 = 0x1b87_3593;
/// Largest constant offset an instruction can carry (s16).
const MAX_IMM_OFF: u64 = 0x7ff0;

/// A key ready for [`Builder::row_hash`].
pub(super) struct KeyHash {
    mixed: Vec<Operand>,
    len: u32,
}

/// Where a counting `add` left its cells: a `query` of the same sketch and
/// key in the same block reads them instead of hashing again.
pub(crate) struct SketchMemo {
    sketch: SketchId,
    key: Vec<Expr>,
    block: BlockId,
    cells: Vec<(VarId, u32)>,
}

/// The seed of hash row `i`.
pub fn row_seed(i: u32) -> u32 {
    (i + 1).wrapping_mul(0x9E37_79B9)
}

/// The sketch's maps: its value first, then a top-k's candidates or a
/// NitroSketch's sampler state and pool.
pub(crate) fn sketch_maps(s: &SketchHir) -> Vec<MapDef> {
    let one = |name: String, kind, value_size| MapDef { name, kind, key_size: 4, value_size, max_entries: 1, flags: 0 };
    let (kind, value_size) = match s.kind {
        SketchKind::Bloom => (MapKind::Array, s.cols / 8),
        SketchKind::Hyperloglog => (MapKind::PerCpuArray, s.cols),
        _ => (MapKind::Array, s.rows * s.cols * 4),
    };
    if !s.per.is_empty() {
        // A keyed HyperLogLog: registers per key and CPU, and the all-zero
        // registers a new key starts from (too large for the stack).
        let (_, key_size) = expr_key_layout(&s.per);
        return vec![
            MapDef { name: s.name.clone(), kind: MapKind::LruPerCpuHash, key_size, value_size, max_entries: s.per_size, flags: 0 },
            one(hll_zero_map(&s.name), MapKind::Array, value_size),
        ];
    }
    let mut maps = vec![one(s.name.clone(), kind, value_size)];
    match s.kind {
        SketchKind::Topk => {
            let (_, key_size) = expr_key_layout(&s.key);
            maps.push(MapDef { name: top_map(&s.name), kind: MapKind::LruHash, key_size, value_size: 4, max_entries: s.candidates, flags: 0 });
        }
        SketchKind::Nitro => {
            maps.push(one(nitro_state_map(&s.name), MapKind::PerCpuArray, 8));
            maps.push(one(nitro_pool_map(&s.name), MapKind::Array, NITRO_POOL_LEN * 4));
        }
        _ => {}
    }
    maps
}

/// A keyed HyperLogLog's template of fresh (zero) registers.
pub fn hll_zero_map(sketch: &str) -> String {
    format!("{sketch}_zero")
}

/// A top-k's candidate keys.
pub fn top_map(sketch: &str) -> String {
    format!("{sketch}_top")
}

/// A NitroSketch's per-CPU sampler state `{skip, cursor}`.
pub fn nitro_state_map(sketch: &str) -> String {
    format!("{sketch}_nitro")
}

/// A NitroSketch's pool of geometric gaps (filled at load).
pub fn nitro_pool_map(sketch: &str) -> String {
    format!("{sketch}_pool")
}

/// Gaps in a NitroSketch's pool (a power of two: the cursor wraps by mask).
pub const NITRO_POOL_LEN: u32 = 1024;
/// The pool's generator seed (docs/kfunc-lib.md, xorshift64*).
pub const NITRO_POOL_SEED: u64 = 0x6e66_6c2d_6e69_7472;

impl Builder<'_> {
    pub(super) fn alu32(&mut self, op: AluOp, lhs: Operand, rhs: Operand) -> Operand {
        self.alu(op, lhs, rhs, 32)
    }

    fn rotl32(&mut self, v: Operand, n: u64) -> Operand {
        let hi = self.alu32(AluOp::Shl, v, Operand::Imm(n));
        let lo = self.alu32(AluOp::Shr, v, Operand::Imm(32 - n));
        self.alu32(AluOp::Or, hi, lo)
    }

    /// The key as 32-bit words (little-endian layout of its slots) and its
    /// length in bytes.
    fn key_words(&mut self, key: &[Expr]) -> (Vec<Operand>, u32) {
        let (slots, size) = expr_key_layout(key);
        let mut words = vec![Operand::Imm(0); (size / 4) as usize];
        for (e, (off, bytes)) in key.iter().zip(slots) {
            let v = self.value(e, None);
            let w = (off / 4) as usize;
            if bytes == 8 {
                let lo = self.alu32(AluOp::And, v, Operand::Imm(0xffff_ffff));
                let hi = self.alu(AluOp::Shr, v, Operand::Imm(32), 64);
                words[w] = lo;
                words[w + 1] = hi;
                continue;
            }
            let part = match off % 4 {
                0 => v,
                b => self.alu32(AluOp::Shl, v, Operand::Imm(u64::from(b) * 8)),
            };
            words[w] = match words[w] {
                Operand::Imm(0) => part,
                other => self.alu32(AluOp::Or, other, part),
            };
        }
        (words, size)
    }

    /// The seed-independent half of murmur3 for every row: the key's
    /// words mixed by `c1`, `rotl 15`, `c2`; and the key length.
    pub(super) fn hash_key(&mut self, key: &[Expr]) -> KeyHash {
        let (words, len) = self.key_words(key);
        let mixed = words
            .into_iter()
            .map(|w| {
                let k = self.alu32(AluOp::Mul, w, Operand::Imm(C1));
                let k = self.rotl32(k, 15);
                self.alu32(AluOp::Mul, k, Operand::Imm(C2))
            })
            .collect();
        KeyHash { mixed, len }
    }

    /// `murmur3_32(key, seed(i))`, computed where row `i` needs it so only
    /// the mixed words stay live across rows.
    pub(super) fn row_hash(&mut self, key: &KeyHash, i: u32) -> Operand {
        self.seeded_hash(key, row_seed(i))
    }

    /// `murmur3_32(key, seed)` from the mixed words.
    pub(super) fn seeded_hash(&mut self, key: &KeyHash, seed: u32) -> Operand {
        let mut h = Operand::Imm(u64::from(seed));
        for &k in &key.mixed {
            h = self.alu32(AluOp::Xor, h, k);
            h = self.rotl32(h, 13);
            h = self.alu32(AluOp::Mul, h, Operand::Imm(5));
            h = self.alu32(AluOp::Add, h, Operand::Imm(0xe654_6b64));
        }
        h = self.alu32(AluOp::Xor, h, Operand::Imm(u64::from(key.len)));
        for (shift, mul) in [(16, Some(0x85eb_ca6b)), (13, Some(0xc2b2_ae35)), (16, None)] {
            let s = self.alu32(AluOp::Shr, h, Operand::Imm(shift));
            h = self.alu32(AluOp::Xor, h, s);
            if let Some(m) = mul {
                h = self.alu32(AluOp::Mul, h, Operand::Imm(m));
            }
        }
        h
    }

    /// The sketch's single value.
    fn sketch_value(&mut self, sketch: SketchId) -> VarId {
        self.first_value(self.sketch_maps[sketch.index()][0])
    }

    /// A one-entry array's value. The miss never happens (an array always
    /// has its entry) but the verifier wants the test: it passes the
    /// packet, and code after the lookup stays in one block.
    pub(super) fn first_value(&mut self, map: MapId) -> VarId {
        let (p, miss) = self.lookup_first(map);
        let here = self.cur;
        self.switch_to(miss);
        let pass = super::verdict_code(self.hir.hook, nfl_syntax::ast::VerdictKind::Pass);
        self.terminate(Term::Exit(crate::ir::Exit::Return(pass)));
        self.cur = here;
        p
    }

    /// A pointer to `p + row_off + (h & mask) * 4` and the constant part
    /// left for the instruction's offset field.
    pub(super) fn cell(&mut self, p: VarId, h: Operand, mask: u32, row_off: u64) -> (VarId, u32) {
        let idx = self.alu32(AluOp::And, h, Operand::Imm(u64::from(mask)));
        let mut off = self.alu(AluOp::Shl, idx, Operand::Imm(2), 64);
        let mut imm = row_off;
        if row_off > MAX_IMM_OFF {
            off = self.alu(AluOp::Add, off, Operand::Imm(row_off), 64);
            imm = 0;
        }
        let q = self.new_var(VarKind::MapValue);
        self.push(Inst::PtrAdd { dst: q, ptr: p, off });
        (q, imm as u32)
    }

    pub(crate) fn sketch_add(&mut self, sketch: SketchId, key: &[Expr], amount: &Expr) {
        let s = &self.hir.sketches[sketch.index()];
        let (kind, rows, cols) = (s.kind, s.rows, s.cols);
        if kind == SketchKind::Topk {
            self.topk_candidate(sketch, key);
        }
        if kind == SketchKind::Nitro {
            return self.nitro_add(sketch, key, amount);
        }
        if !self.hir.sketches[sketch.index()].per.is_empty() {
            return self.hll_per_add(sketch, key);
        }
        if self.target == Target::Enetstl {
            let (call, x) = match kind {
                SketchKind::Bloom => (Kcall::NflBloomAdd, Some(Operand::Imm(u64::from(rows)))),
                SketchKind::Hyperloglog => (Kcall::NflHllAdd, None),
                _ => {
                    // The amount is a u32 (the checker types it), so it
                    // fills the low half of `rows << 32 | n` as it is.
                    let n = self.value(amount, None);
                    let call = if kind.signed() { Kcall::NflCsAdd } else { Kcall::NflCmAdd };
                    (call, Some(self.alu(AluOp::Or, n, Operand::Imm(u64::from(rows) << 32), 64)))
                }
            };
            self.nfl_call(sketch, key, call, x);
            return;
        }
        let kh = self.hash_key(key);
        let amount = self.value(amount, None);
        let amount = Operand::Var(self.to_var(amount));
        let p = self.sketch_value(sketch);
        match kind {
            SketchKind::CountMin | SketchKind::CountSketch | SketchKind::Topk => {
                let cells = (0..rows)
                    .map(|i| {
                        let h = self.row_hash(&kh, i);
                        self.count_row(p, h, i, cols, amount, kind.signed())
                    })
                    .collect();
                // A count sketch's query needs the signs too: no memo.
                if !kind.signed() {
                    let block = self.cur.unwrap_or(BlockId(0));
                    self.sketch_memo = Some(SketchMemo { sketch, key: key.to_vec(), block, cells });
                }
            }
            // Dispatched to `nitro_add` above, before any hashing.
            SketchKind::Nitro => {}
            SketchKind::Bloom => {
                for i in 0..rows {
                    let h = self.row_hash(&kh, i);
                    let (q, bit) = self.bloom_bit(p, h, cols);
                    let src = self.to_var(bit);
                    self.push(Inst::Atomic { op: AtomicOp::Or, ptr: q, off: 0, bytes: 4, src });
                }
            }
            SketchKind::Hyperloglog => {
                let h = self.row_hash(&kh, 0);
                self.hll_add(p, h, cols);
            }
        }
    }

    /// `add` on a keyed HyperLogLog: the registers of this `per` key (a new
    /// key starts from the zero template), then the usual update.
    fn hll_per_add(&mut self, sketch: SketchId, key: &[Expr]) {
        let s = &self.hir.sketches[sketch.index()];
        let (cols, per) = (s.cols, s.per.clone());
        let maps = self.sketch_maps[sketch.index()].clone();
        let kh = self.hash_key(key);
        let h = self.row_hash(&kh, 0);
        let kb = self.state_key_of(&per);
        let regs = self.new_var(VarKind::MapValue);
        let (update, done) = (self.new_block(), self.new_block());
        let (p, miss) = self.lookup(maps[0], kb);
        self.push(Inst::Copy { dst: regs, src: p });
        self.terminate(Term::Jump(update));
        self.switch_to(miss);
        let zero = self.first_value(maps[1]);
        let r = self.new_var(VarKind::Scalar);
        self.push(Inst::MapUpdateFrom { dst: r, map: maps[0], key: kb, value: zero, flags: 1 });
        let (p2, gone) = self.lookup(maps[0], kb);
        self.push(Inst::Copy { dst: regs, src: p2 });
        self.terminate(Term::Jump(update));
        self.switch_to(gone);
        self.terminate(Term::Jump(done));
        self.switch_to(update);
        self.hll_add(regs, h, cols);
        self.terminate(Term::Jump(done));
        self.switch_to(done);
    }

    /// Add `amount` (signed by `h` for count sketches) to row `i`'s cell;
    /// the cell.
    pub(super) fn count_row(&mut self, p: VarId, h: Operand, i: u32, cols: u32, amount: Operand, signed: bool) -> (VarId, u32) {
        let (q, off) = self.cell(p, h, cols - 1, u64::from(i * cols) * 4);
        let delta = if signed { self.signed(h, amount) } else { amount };
        let src = self.to_var(delta);
        self.push(Inst::Atomic { op: AtomicOp::Add, ptr: q, off, bytes: 4, src });
        (q, off)
    }

    /// `amount`, negated when bit 31 of `h` is set: `(a ^ m) - m` with
    /// `m = 0 - (h >> 31)`.
    pub(super) fn signed(&mut self, h: Operand, amount: Operand) -> Operand {
        let top = self.alu32(AluOp::Shr, h, Operand::Imm(31));
        let m = self.alu32(AluOp::Sub, Operand::Imm(0), top);
        let x = self.alu32(AluOp::Xor, amount, m);
        self.alu32(AluOp::Sub, x, m)
    }

    /// The word holding bit `h & (bits - 1)` and the bit's mask in it.
    fn bloom_bit(&mut self, p: VarId, h: Operand, bits: u32) -> (VarId, Operand) {
        let b = self.alu32(AluOp::And, h, Operand::Imm(u64::from(bits - 1)));
        let word = self.alu32(AluOp::Shr, b, Operand::Imm(5));
        let off = self.alu(AluOp::Shl, word, Operand::Imm(2), 64);
        let q = self.new_var(VarKind::MapValue);
        self.push(Inst::PtrAdd { dst: q, ptr: p, off });
        let pos = self.alu32(AluOp::And, b, Operand::Imm(31));
        let one = self.to_var(Operand::Imm(1));
        let mask = self.new_var(VarKind::Scalar);
        self.push(Inst::Alu { op: AluOp::Shl, dst: mask, lhs: one, rhs: pos, width: 32 });
        (q, Operand::Var(mask))
    }

    /// `reg[h >> (32 - p)] = max(reg, clz((h << p) | 1 << (p - 1)) + 1)`.
    fn hll_add(&mut self, p: VarId, h: Operand, regs: u32) {
        let bits = u64::from(regs.trailing_zeros());
        let idx = self.alu32(AluOp::Shr, h, Operand::Imm(32 - bits));
        let q = self.new_var(VarKind::MapValue);
        self.push(Inst::PtrAdd { dst: q, ptr: p, off: idx });
        let w = self.alu32(AluOp::Shl, h, Operand::Imm(bits));
        let w = self.alu32(AluOp::Or, w, Operand::Imm(1 << (bits - 1)));
        let zeros = self.clz32(w);
        let rank = self.alu(AluOp::Add, zeros, Operand::Imm(1), 64);
        let old = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: old, ptr: q, off: 0, bytes: 1 });
        let (store, done) = (self.new_block(), self.new_block());
        self.branch(CmpOp::Gt, rank, Operand::Var(old), 64, store, done);
        self.switch_to(store);
        self.push(Inst::MemStore { ptr: q, off: 0, bytes: 1, src: rank });
        self.terminate(Term::Jump(done));
        self.switch_to(done);
    }

    /// Leading zeros of a non-zero 32-bit `w`, without branches: at each
    /// step, `s = 1` when the top `n` bits are clear (`w < 2^(32-n)`, read
    /// off the sign of a 64-bit subtraction), then `w <<= s·n`.
    fn clz32(&mut self, w: Operand) -> Operand {
        let mut w = w;
        let mut count = Operand::Imm(0);
        for n in [16u64, 8, 4, 2, 1] {
            let d = self.alu(AluOp::Sub, w, Operand::Imm(1 << (32 - n)), 64);
            let s = self.alu(AluOp::Shr, d, Operand::Imm(63), 64);
            let by = self.alu(AluOp::Mul, s, Operand::Imm(n), 64);
            count = self.alu(AluOp::Add, count, by, 64);
            let wv = self.to_var(w);
            let byv = self.to_var(by);
            let dst = self.new_var(VarKind::Scalar);
            self.push(Inst::Alu { op: AluOp::Shl, dst, lhs: wv, rhs: Operand::Var(byv), width: 32 });
            w = Operand::Var(dst);
        }
        count
    }

    /// `S.query(k)` (the minimum over rows), `S.contains(k)`, or with
    /// `insert` `S.insert(k)`: set every bit, true when one was clear. Two
    /// CPUs inserting one key at the same instant may both see it new.
    pub(crate) fn sketch_read(&mut self, sketch: SketchId, key: &[Expr], insert: bool) -> Operand {
        let s = &self.hir.sketches[sketch.index()];
        let (kind, rows, cols) = (s.kind, s.rows, s.cols);
        if self.target == Target::Enetstl && !kind.signed() {
            return self.nfl_read(sketch, key, kind, rows, insert);
        }
        let res = self.new_var(VarKind::Scalar);
        self.push(Inst::Const { dst: res, value: 0 });
        let join = self.new_block();
        let memo = self.sketch_memo.take().filter(|m| m.sketch == sketch && m.key == key && self.cur == Some(m.block));
        if let Some(m) = memo {
            self.min_of(&m.cells, res);
            self.terminate(Term::Jump(join));
            self.switch_to(join);
            return Operand::Var(res);
        }
        let kh = self.hash_key(key);
        let p = self.sketch_value(sketch);
        match kind {
            SketchKind::Bloom => {
                for i in 0..rows {
                    let h = self.row_hash(&kh, i);
                    let (q, bit) = self.bloom_bit(p, h, cols);
                    let word = self.new_var(VarKind::Scalar);
                    self.push(Inst::MemLoad { dst: word, ptr: q, off: 0, bytes: 4 });
                    let set = self.alu32(AluOp::And, Operand::Var(word), bit);
                    // `contains` stops at the first clear bit (false);
                    // `insert` sets it and goes on (true: the key is new).
                    let next = self.new_block();
                    let clear = if insert { self.new_block() } else { join };
                    self.branch(CmpOp::Eq, set, Operand::Imm(0), 32, clear, next);
                    if insert {
                        self.switch_to(clear);
                        self.push(Inst::Const { dst: res, value: 1 });
                        let src = self.to_var(bit);
                        self.push(Inst::Atomic { op: AtomicOp::Or, ptr: q, off: 0, bytes: 4, src });
                        self.terminate(Term::Jump(next));
                    }
                    self.switch_to(next);
                }
                if !insert {
                    self.push(Inst::Const { dst: res, value: 1 });
                }
            }
            _ if kind.signed() => self.median_query(p, &kh, rows, cols, res),
            _ => {
                for i in 0..rows {
                    let h = self.row_hash(&kh, i);
                    let cell = self.cell(p, h, cols - 1, u64::from(i * cols) * 4);
                    self.min_step(cell, i == 0, res);
                }
            }
        }
        self.terminate(Term::Jump(join));
        self.switch_to(join);
        Operand::Var(res)
    }

    /// The enetstl profile: one kfunc-lib kfunc on the sketch's value and
    /// the key laid out in a stack buffer; its result.
    fn nfl_call(&mut self, sketch: SketchId, key: &[Expr], call: Kcall, x: Option<Operand>) -> VarId {
        let args = self.nfl_args(sketch, key);
        self.nfl_kcall(&args, call, x)
    }

    /// The first four arguments of kfunc-lib's sketch kfuncs: the value,
    /// its size, the key in a stack buffer, its size.
    fn nfl_args(&mut self, sketch: SketchId, key: &[Expr]) -> [VarId; 4] {
        let map = self.sketch_maps[sketch.index()][0];
        let size = self.func.maps[map.index()].value_size;
        let buf = self.state_key_of(key);
        let key_size = self.func.bufs[buf.index()].size;
        let p = self.sketch_value(sketch);
        let kaddr = self.new_var(VarKind::StackPtr);
        self.push(Inst::BufAddr { dst: kaddr, buf });
        [p, self.to_var(Operand::Imm(u64::from(size))), kaddr, self.to_var(Operand::Imm(u64::from(key_size)))]
    }

    /// `call(args.., x)`; its result.
    fn nfl_kcall(&mut self, args: &[VarId; 4], call: Kcall, x: Option<Operand>) -> VarId {
        let mut args = args.to_vec();
        if let Some(x) = x {
            args.push(self.to_var(x));
        }
        let dst = self.new_var(VarKind::Scalar);
        self.push(Inst::Kcall { dst: Some(dst), call, args });
        dst
    }

    /// `query`, `contains` and `insert` through kfunc-lib's kfuncs.
    fn nfl_read(&mut self, sketch: SketchId, key: &[Expr], kind: SketchKind, rows: u32, insert: bool) -> Operand {
        let rows = Some(Operand::Imm(u64::from(rows)));
        if kind != SketchKind::Bloom {
            return Operand::Var(self.nfl_call(sketch, key, Kcall::NflCmQuery, rows));
        }
        // `insert` tests and sets the same key: its buffer and the value
        // pointer serve both calls.
        let args = self.nfl_args(sketch, key);
        let present = self.nfl_kcall(&args, Kcall::NflBloomContains, rows);
        if !insert {
            return Operand::Var(present);
        }
        self.nfl_kcall(&args, Kcall::NflBloomAdd, rows);
        self.alu(AluOp::Xor, Operand::Var(present), Operand::Imm(1), 64)
    }

    /// `res = min(res, *cell)` (`res = *cell` for the first).
    fn min_step(&mut self, (q, off): (VarId, u32), first: bool, res: VarId) {
        let v = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: v, ptr: q, off, bytes: 4 });
        if first {
            self.push(Inst::Copy { dst: res, src: v });
            return;
        }
        let (lower, next) = (self.new_block(), self.new_block());
        self.branch(CmpOp::Lt, Operand::Var(v), Operand::Var(res), 32, lower, next);
        self.switch_to(lower);
        self.push(Inst::Copy { dst: res, src: v });
        self.terminate(Term::Jump(next));
        self.switch_to(next);
    }

    fn min_of(&mut self, cells: &[(VarId, u32)], res: VarId) {
        for (i, &cell) in cells.iter().enumerate() {
            self.min_step(cell, i == 0, res);
        }
    }
}
