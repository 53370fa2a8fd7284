//! Counters and keyed state maps.
//!
//! - A counter is a per-CPU array of `{packets: u64, bytes: u64}`; a count
//!   is a lookup and two read-modify-writes (no atomics: per-CPU).
//! - A state map without `idle` is a hash map; with `idle` it is an LRU
//!   hash (so it can never fill up) whose value is `{value: u64,
//!   last_seen_ns: u64}`. An entry older than the timeout reads as absent;
//!   reading or writing a live entry refreshes it.

use super::Builder;
use crate::hir::{CounterId, Expr, StateMapId, Ty};
use crate::ir::{AluOp, BufId, Call, CmpOp, Inst, MapDef, MapId, MapKind, Operand, Term, VarId, VarKind};
use crate::table::slot_bytes;

/// `BPF_ANY`
const UPDATE_ANY: u64 = 0;

/// Key slots `(offset, bytes)` of a state map key and its size.
pub fn state_key_layout(key: &[Ty]) -> (Vec<(u32, u32)>, u32) {
    let mut off = 0u32;
    let mut slots = Vec::new();
    for ty in key {
        let bytes = slot_bytes(ty.width());
        off = off.div_ceil(bytes) * bytes;
        slots.push((off, bytes));
        off += bytes;
    }
    (slots, off.max(1).div_ceil(4) * 4)
}

/// [`state_key_layout`] of key expressions, by their types.
pub fn expr_key_layout(key: &[Expr]) -> (Vec<(u32, u32)>, u32) {
    state_key_layout(&key.iter().map(|e| e.ty).collect::<Vec<Ty>>())
}

pub(crate) fn counter_map(name: &str, size: u32) -> MapDef {
    MapDef { name: name.to_string(), kind: MapKind::PerCpuArray, key_size: 4, value_size: 16, max_entries: size, flags: 0 }
}

pub(crate) fn state_map(name: &str, key: &[Ty], idle: bool, size: u32) -> MapDef {
    let (_, key_size) = state_key_layout(key);
    let (kind, value_size) = if idle { (MapKind::LruHash, 16) } else { (MapKind::Hash, 8) };
    MapDef { name: name.to_string(), kind, key_size, value_size, max_entries: size, flags: 0 }
}

impl Builder<'_> {
    pub(crate) fn new_buf(&mut self, size: u32) -> BufId {
        self.func.bufs.push(crate::ir::BufData { size });
        BufId(self.func.bufs.len() as u32 - 1)
    }

    /// A 4-byte stack buffer holding 0: key 0 of an array, or a zero value.
    pub(crate) fn zero_buf(&mut self) -> BufId {
        let buf = self.new_buf(4);
        self.push(Inst::BufStore { buf, off: 0, bytes: 4, src: Operand::Imm(0) });
        buf
    }

    /// Entry 0 of an array map and the lookup's (never taken) null branch.
    pub(crate) fn lookup_first(&mut self, map: MapId) -> (VarId, crate::ir::BlockId) {
        let key = self.zero_buf();
        self.lookup(map, key)
    }

    /// Zero the bytes of `buf` outside `covered` (sorted `(off, bytes)`), with
    /// naturally aligned stores, so a helper may read the whole buffer.
    pub(crate) fn fill_gaps(&mut self, buf: BufId, size: u32, covered: &[(u32, u32)]) {
        let mut used = vec![false; size as usize];
        for &(off, n) in covered {
            for b in off..off + n {
                if let Some(u) = used.get_mut(b as usize) {
                    *u = true;
                }
            }
        }
        let mut off = 0u32;
        while off < size {
            if used[off as usize] {
                off += 1;
                continue;
            }
            let n = [8u32, 4, 2, 1]
                .into_iter()
                .find(|&n| off % n == 0 && off + n <= size && (off..off + n).all(|b| !used[b as usize]))
                .unwrap_or(1);
            self.push(Inst::BufStore { buf, off, bytes: n, src: Operand::Imm(0) });
            off += n;
        }
    }

    /// Lookup `map[buf]`: continue in the hit block and return the value
    /// pointer; the miss block is returned for the caller to fill.
    pub(crate) fn lookup(&mut self, map: MapId, key: BufId) -> (VarId, crate::ir::BlockId) {
        let r = self.new_var(VarKind::MapValueOrNull);
        self.push(Inst::MapLookup { dst: r, map, key });
        let (hit, miss) = (self.new_block(), self.new_block());
        self.terminate(Term::Branch { op: CmpOp::Eq, lhs: r, rhs: Operand::Imm(0), width: 64, then_bb: miss, else_bb: hit });
        self.switch_to(hit);
        let p = self.new_var(VarKind::MapValue);
        self.push(Inst::Copy { dst: p, src: r });
        (p, miss)
    }

    /// `*p[off] += v` (8 bytes, not atomic).
    fn add_in_place(&mut self, p: VarId, off: u32, v: Operand) {
        let old = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: old, ptr: p, off, bytes: 8 });
        let new = self.alu(AluOp::Add, Operand::Var(old), v, 64);
        self.push(Inst::MemStore { ptr: p, off, bytes: 8, src: new });
    }

    pub(crate) fn count(&mut self, counter: CounterId, index: Option<&Expr>) {
        let map = self.counter_maps[counter.index()];
        let key = self.new_buf(4);
        let idx = match index {
            Some(e) => {
                let v = self.value(e, None);
                if e.ty.width() > 32 {
                    // An index past u32 can never be in range.
                    let big = self.new_block();
                    let ok = self.new_block();
                    let join = self.new_block();
                    self.branch(CmpOp::Gt, v, Operand::Imm(u64::from(u32::MAX)), 64, big, ok);
                    self.switch_to(big);
                    self.terminate(Term::Jump(join));
                    self.switch_to(ok);
                    self.count_at(map, key, v);
                    self.terminate(Term::Jump(join));
                    self.switch_to(join);
                    return;
                }
                v
            }
            None => Operand::Imm(0),
        };
        self.count_at(map, key, idx);
    }

    pub(crate) fn count_at(&mut self, map: MapId, key: BufId, idx: Operand) {
        self.push(Inst::BufStore { buf: key, off: 0, bytes: 4, src: idx });
        let len = self.value(&Expr { kind: crate::hir::ExprKind::Pkt(crate::hir::PktField::Len), ty: Ty::UInt(32), span: self.span }, None);
        let (p, miss) = self.lookup(map, key);
        self.add_in_place(p, 0, Operand::Imm(1));
        self.add_in_place(p, 8, len);
        let join = self.new_block();
        self.terminate(Term::Jump(join));
        self.switch_to(miss);
        self.terminate(Term::Jump(join));
        self.switch_to(join);
    }

    /// Write key values (laid out by their types) into a fresh buffer.
    pub(crate) fn state_key_of(&mut self, key: &[Expr]) -> BufId {
        let (slots, size) = expr_key_layout(key);
        let buf = self.new_buf(size);
        let values: Vec<Operand> = key.iter().map(|e| self.value(e, None)).collect();
        self.fill_gaps(buf, size, &slots);
        for ((off, bytes), v) in slots.into_iter().zip(values) {
            self.push(Inst::BufStore { buf, off, bytes, src: v });
        }
        buf
    }

    fn idle_ns(&self, map: StateMapId) -> Option<u64> {
        self.hir.maps[map.index()].idle_ns
    }

    /// Continue only if the entry at `p` is live (refreshing it); jump to
    /// `dead` otherwise.
    pub(crate) fn check_live(&mut self, map: StateMapId, p: VarId, dead: crate::ir::BlockId) {
        let Some(idle) = self.idle_ns(map) else { return };
        let now = self.new_var(VarKind::Scalar);
        self.push(Inst::Call { dst: Some(now), call: Call::KtimeNs });
        let last = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: last, ptr: p, off: 8, bytes: 8 });
        let age = self.alu(AluOp::Sub, Operand::Var(now), Operand::Var(last), 64);
        let live = self.new_block();
        self.branch(CmpOp::Gt, age, Operand::Imm(idle), 64, dead, live);
        self.switch_to(live);
        self.push(Inst::MemStore { ptr: p, off: 8, bytes: 8, src: Operand::Var(now) });
    }

    /// `M[k]` (`contains` = false) or `M.contains(k)` as a value.
    pub(crate) fn map_read(&mut self, map: StateMapId, key: &[Expr], contains: bool) -> Operand {
        let m = self.state_maps[map.index()];
        let buf = self.state_key_of(key);
        let dst = self.new_var(VarKind::Scalar);
        let (p, miss) = self.lookup(m, buf);
        self.check_live(map, p, miss);
        if contains {
            self.push(Inst::Const { dst, value: 1 });
        } else {
            let bytes = slot_bytes(self.hir.maps[map.index()].value.width());
            self.push(Inst::MemLoad { dst, ptr: p, off: 0, bytes });
        }
        let join = self.new_block();
        self.terminate(Term::Jump(join));
        self.switch_to(miss);
        self.push(Inst::Const { dst, value: 0 });
        self.terminate(Term::Jump(join));
        self.switch_to(join);
        Operand::Var(dst)
    }

    pub(crate) fn map_set(&mut self, map: StateMapId, key: &[Expr], value: &Expr) {
        let m = self.state_maps[map.index()];
        let v = self.value(value, None);
        let buf = self.state_key_of(key);
        let idle = self.idle_ns(map).is_some();
        let val = self.new_buf(if idle { 16 } else { 8 });
        self.push(Inst::BufStore { buf: val, off: 0, bytes: 8, src: v });
        if idle {
            let now = self.new_var(VarKind::Scalar);
            self.push(Inst::Call { dst: Some(now), call: Call::KtimeNs });
            self.push(Inst::BufStore { buf: val, off: 8, bytes: 8, src: Operand::Var(now) });
        }
        self.push(Inst::Call { dst: None, call: Call::MapUpdate { map: m, key: buf, value: val, flags: UPDATE_ANY } });
    }

    pub(crate) fn map_remove(&mut self, map: StateMapId, key: &[Expr]) {
        let m = self.state_maps[map.index()];
        let buf = self.state_key_of(key);
        self.push(Inst::Call { dst: None, call: Call::MapDelete { map: m, key: buf } });
    }
}
