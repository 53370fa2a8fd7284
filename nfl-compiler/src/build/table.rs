//! `T.apply()`: build the key, find the entry, run its action.
//!
//! - `Inline` tables become one compare chain per entry, in priority order,
//!   with the action's arguments as constants.
//! - `Hash` and `Lpm` tables write the key (see [`crate::table`]) into a
//!   stack buffer and look it up.
//! - `Tss` tables walk the masks value (one array element) slot by slot,
//!   fully unrolled over the mask bound: mask the key, probe the rules map,
//!   keep the highest priority hit, and stop early once no later slot can
//!   beat it (slots are sorted by their best priority).
//!
//! A hit dispatches on the entry's action id and loads the parameters from
//! the value; a miss runs the default action.

use super::Builder;
use crate::classify::FieldMatch;
use crate::hir::{ActionId, EntryHir, KeyMatch, Pattern, TableId};
use crate::ir::{AluOp, BlockId, BufId, CmpOp, Inst, MapDef, MapId, MapKind, Operand, Term, VarId, VarKind};
use crate::table::{TableImpl, TableLayout};

/// `BPF_F_NO_PREALLOC`, required by LPM tries.
const NO_PREALLOC: u32 = 1;

/// The per-CPU `{packets, bytes}` of a table's hits (index 0) and misses
/// (index 1), for `nflc stats` and the live view.
pub(crate) fn stats_map(t: &TableLayout) -> MapDef {
    MapDef { name: t.stats_map(), kind: MapKind::PerCpuArray, key_size: 4, value_size: 16, max_entries: 2, flags: 0 }
}

/// The maps a table needs: rules (and masks for Tss).
pub(crate) fn table_maps(t: &TableLayout) -> Vec<MapDef> {
    let rules = |kind, flags| MapDef {
        name: t.rules_map.clone(),
        kind,
        key_size: t.key_size,
        value_size: t.value_size,
        max_entries: t.max_entries.max(1),
        flags,
    };
    match t.imp {
        TableImpl::Inline => Vec::new(),
        TableImpl::Hash => vec![rules(MapKind::Hash, 0)],
        TableImpl::Lpm => vec![rules(MapKind::LpmTrie, NO_PREALLOC)],
        TableImpl::Tss { masks } => {
            let n = t.slots.len() as u32;
            vec![
                rules(MapKind::Hash, 0),
                MapDef {
                    name: t.masks_map.clone().unwrap_or_default(),
                    kind: MapKind::Array,
                    key_size: 4,
                    value_size: 8 + masks * (8 + 8 * n),
                    max_entries: 1,
                    flags: 0,
                },
                MapDef {
                    name: t.best_map(),
                    kind: MapKind::PerCpuArray,
                    key_size: 4,
                    value_size: t.value_size,
                    max_entries: 1,
                    flags: 0,
                },
            ]
        }
    }
}

/// Per-field patterns of one key match (a tuple key spans several fields).
pub(crate) fn field_patterns(widths: &[u32], m: &KeyMatch) -> Vec<Pattern> {
    crate::entries::field_matches(widths, m)
        .into_iter()
        .zip(widths)
        .map(|(f, &w)| match f {
            FieldMatch::Any => Pattern::Any,
            FieldMatch::Exact(v) => Pattern::Value(v),
            FieldMatch::Ternary { value, mask } => Pattern::Mask { value: value & mask, mask },
            FieldMatch::Prefix { value, len } => {
                let mask = crate::classify::expand::prefix_mask(w, len);
                Pattern::Mask { value: value & mask, mask }
            }
            FieldMatch::Range { lo, hi } => Pattern::Range { lo, hi },
        })
        .collect()
}

/// Mask bounds up to this are walked by straight-line code; larger ones by
/// a bounded loop (smaller code, a verifier cost linear in the bound).
pub const UNROLL_MASKS: u32 = 8;

/// What one tuple-space probe needs.
struct Walk {
    keys: Vec<Operand>,
    key: BufId,
    rules: MapId,
    /// This CPU's copy of the best hit so far (`prio` 0: none yet).
    best: VarId,
    value_size: u32,
    done: BlockId,
}

impl Builder<'_> {
    /// Continue at `win` when `prio` beats the best hit's priority, read
    /// from the scratch value. Keeping the best hit in a map, not in
    /// registers, leaves nothing that differs between the paths through
    /// one probe, so the verifier merges them at every loop head and its
    /// cost stays linear in the mask bound.
    fn beats_best(&mut self, w: &Walk, prio: VarId, win: BlockId, lose: BlockId) {
        let best_prio = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: best_prio, ptr: w.best, off: 0, bytes: 4 });
        self.branch(CmpOp::Gt, Operand::Var(prio), Operand::Var(best_prio), 32, win, lose);
    }

    /// Probe the slot at `ptr + base` (`max_prio`, `tuple_id`, masks): stop
    /// at `done` if it cannot beat the best so far, else mask the key,
    /// look it up and copy a better hit into the scratch value. Continues
    /// in a fresh block.
    fn probe_slot(&mut self, w: &Walk, ptr: VarId, base: u32) {
        let max_prio = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: max_prio, ptr, off: base, bytes: 4 });
        let probe = self.new_block();
        self.beats_best(w, max_prio, probe, w.done);
        self.switch_to(probe);
        let tuple = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: tuple, ptr, off: base + 4, bytes: 4 });
        self.push(Inst::BufStore { buf: w.key, off: 0, bytes: 4, src: Operand::Var(tuple) });
        for (f, k) in w.keys.iter().enumerate() {
            let m = self.new_var(VarKind::Scalar);
            self.push(Inst::MemLoad { dst: m, ptr, off: base + 8 + 8 * f as u32, bytes: 8 });
            let masked = self.alu(AluOp::And, *k, Operand::Var(m), 64);
            self.push(Inst::BufStore { buf: w.key, off: 8 + 8 * f as u32, bytes: 8, src: masked });
        }
        let (fp, next) = self.lookup(w.rules, w.key);
        let prio = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: prio, ptr: fp, off: 0, bytes: 4 });
        let better = self.new_block();
        let after = self.new_block();
        self.beats_best(w, prio, better, after);
        self.switch_to(better);
        for off in (0..w.value_size).step_by(8) {
            let word = self.new_var(VarKind::Scalar);
            self.push(Inst::MemLoad { dst: word, ptr: fp, off, bytes: 8 });
            self.push(Inst::MemStore { ptr: w.best, off, bytes: 8, src: Operand::Var(word) });
        }
        self.terminate(Term::Jump(after));
        self.switch_to(next);
        self.terminate(Term::Jump(after));
        self.switch_to(after);
    }

    pub(crate) fn apply(&mut self, table: TableId) {
        let hir = self.hir;
        let t = &hir.tables[table.index()];
        let keys: Vec<Operand> = t.key_exprs.iter().map(|e| self.value(e, None)).collect();
        let join = self.new_block();
        match t.layout.imp {
            TableImpl::Inline => self.apply_inline(table, &keys, join),
            TableImpl::Hash | TableImpl::Lpm => {
                let buf = self.write_key(&t.layout, &keys);
                let (rules, _) = self.table_maps[table.index()];
                let (p, miss) = self.lookup(rules, buf);
                self.dispatch(table, p, miss, join);
                self.switch_to(miss);
                self.run_default(table, join);
            }
            TableImpl::Tss { masks } => {
                let (found, miss) = self.tss_walk(table, &keys, masks);
                self.dispatch(table, found, miss, join);
                self.switch_to(miss);
                self.run_default(table, join);
            }
        }
        self.switch_to(join);
    }

    fn apply_inline(&mut self, table: TableId, keys: &[Operand], join: BlockId) {
        let t = &self.hir.tables[table.index()];
        let widths: Vec<Vec<u32>> = t.layout.keys.iter().map(|k| k.widths.clone()).collect();
        let entries: Vec<EntryHir> = t.entries.clone();
        for entry in &entries {
            let pats: Vec<Pattern> =
                widths.iter().zip(&entry.matches).flat_map(|(w, m)| field_patterns(w, m)).collect();
            let hit = self.new_block();
            let next = self.new_block();
            let flat_widths: Vec<u32> = widths.iter().flatten().copied().collect();
            for (i, (pat, key)) in pats.iter().zip(keys).enumerate() {
                let t_bb = if i + 1 == pats.len() { hit } else { self.new_block() };
                self.match_pattern(*key, flat_widths[i], pat, t_bb, next);
                if t_bb != hit {
                    self.switch_to(t_bb);
                }
            }
            if pats.is_empty() {
                self.terminate(Term::Jump(hit));
            }
            self.switch_to(hit);
            self.count_table(table, 0);
            let action = self.hir.tables[table.index()].actions[entry.action];
            let args = entry.args.iter().map(|a| Operand::Imm(*a)).collect();
            self.invoke(action, args);
            if self.cur.is_some() {
                self.terminate(Term::Jump(join));
            }
            self.switch_to(next);
        }
        self.run_default(table, join);
    }

    /// Count a hit (0) or a miss (1) in the table's stats.
    fn count_table(&mut self, table: TableId, which: u64) {
        let map = self.table_stats[table.index()];
        let key = self.new_buf(4);
        self.count_at(map, key, Operand::Imm(which));
    }

    fn run_default(&mut self, table: TableId, join: BlockId) {
        self.count_table(table, 1);
        if let Some((action, args)) = self.hir.tables[table.index()].default.clone() {
            self.invoke(action, args.into_iter().map(Operand::Imm).collect());
        }
        if self.cur.is_some() {
            self.terminate(Term::Jump(join));
        }
    }

    /// Bind the parameters and inline the action's body.
    pub(crate) fn invoke(&mut self, action: ActionId, args: Vec<Operand>) {
        let Some(decl) = self.hir.actions.get(action.index()) else { return };
        if self.call_depth >= super::MAX_CALL_DEPTH {
            return;
        }
        for (param, v) in decl.params.iter().zip(args) {
            let dst = self.locals[param.index()];
            self.assign(dst, v);
        }
        self.call_depth += 1;
        self.lower_block(&decl.body);
        self.call_depth -= 1;
    }

    /// On a hit (`p` holds the value): run the entry's action.
    fn dispatch(&mut self, table: TableId, p: VarId, miss: BlockId, join: BlockId) {
        let t = &self.hir.tables[table.index()];
        let layout = t.layout.clone();
        let actions = t.actions.clone();
        let id = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: id, ptr: p, off: 4, bytes: 4 });
        self.count_table(table, 0);
        for (al, action) in layout.actions.iter().zip(actions) {
            let this = self.new_block();
            let next = self.new_block();
            self.branch(CmpOp::Eq, Operand::Var(id), Operand::Imm(u64::from(al.id)), 32, this, next);
            self.switch_to(this);
            let args = al
                .params
                .iter()
                .map(|ps| {
                    let v = self.new_var(VarKind::Scalar);
                    self.push(Inst::MemLoad { dst: v, ptr: p, off: ps.off, bytes: ps.bytes });
                    let masked = if ps.width < ps.bytes * 8 {
                        self.alu(AluOp::And, Operand::Var(v), Operand::Imm(super::expr::mask(ps.width)), 64)
                    } else {
                        Operand::Var(v)
                    };
                    masked
                })
                .collect();
            self.invoke(action, args);
            if self.cur.is_some() {
                self.terminate(Term::Jump(join));
            }
            self.switch_to(next);
        }
        // An action id this program does not know: treat as a miss.
        self.terminate(Term::Jump(miss));
    }

    /// Write a Hash or Lpm key.
    fn write_key(&mut self, layout: &TableLayout, keys: &[Operand]) -> BufId {
        let buf = self.new_buf(layout.key_size);
        let mut covered: Vec<(u32, u32)> = layout.slots.iter().map(|s| (s.off, s.bytes)).collect();
        if layout.imp == TableImpl::Lpm {
            covered.push((0, 4));
            self.push(Inst::BufStore { buf, off: 0, bytes: 4, src: Operand::Imm(u64::from(layout.lpm_full_len())) });
        }
        self.fill_gaps(buf, layout.key_size, &covered);
        for (slot, key) in layout.slots.iter().zip(keys) {
            if !slot.big_endian {
                self.push(Inst::BufStore { buf, off: slot.off, bytes: slot.bytes, src: *key });
                continue;
            }
            let v = self.alu(AluOp::Shl, *key, Operand::Imm(u64::from(slot.shift)), 64);
            if matches!(slot.bytes, 2 | 4 | 8) && slot.off % slot.bytes == 0 {
                let src = self.to_var(v);
                let dst = self.new_var(VarKind::Scalar);
                self.push(Inst::Bswap { dst, src, bytes: slot.bytes });
                self.push(Inst::BufStore { buf, off: slot.off, bytes: slot.bytes, src: Operand::Var(dst) });
            } else {
                for j in 0..slot.bytes {
                    let sh = 8 * (slot.bytes - 1 - j);
                    let b = self.alu(AluOp::Shr, v, Operand::Imm(u64::from(sh)), 64);
                    let b = self.alu(AluOp::And, b, Operand::Imm(0xff), 64);
                    self.push(Inst::BufStore { buf, off: slot.off + j, bytes: 1, src: b });
                }
            }
        }
        buf
    }

    /// The tuple-space walk; returns the best hit's value pointer (valid in
    /// the current block) and the miss block.
    fn tss_walk(&mut self, table: TableId, keys: &[Operand], masks: u32) -> (VarId, BlockId) {
        let (rules, masks_map) = self.table_maps[table.index()];
        let masks_map: MapId = masks_map.unwrap_or(rules);
        let scratch = self.table_best[table.index()].unwrap_or(rules);
        let value_size = self.hir.tables[table.index()].layout.value_size;
        let n = keys.len() as u32;
        let stride = 8 + 8 * n;
        let zero = self.zero_buf();
        let (best, no_best) = self.lookup(scratch, zero);
        self.push(Inst::MemStore { ptr: best, off: 0, bytes: 4, src: Operand::Imm(0) });
        let (mp, no_masks) = self.lookup(masks_map, zero);
        let count = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: count, ptr: mp, off: 0, bytes: 4 });
        let key = self.new_buf(8 + 8 * n);
        self.push(Inst::BufStore { buf: key, off: 4, bytes: 4, src: Operand::Imm(0) });
        let done = self.new_block();
        let w = Walk { keys: keys.to_vec(), key, rules, best, value_size, done };
        if masks <= UNROLL_MASKS {
            for i in 0..masks {
                let body = self.new_block();
                self.branch(CmpOp::Gt, Operand::Var(count), Operand::Imm(u64::from(i)), 32, body, done);
                self.switch_to(body);
                self.probe_slot(&w, mp, 8 + i * stride);
            }
        } else {
            // A bounded loop: `slot` walks the slots; the verifier follows
            // `i` exactly, so the constant bound proves termination and
            // every slot access in range.
            let i = self.new_var(VarKind::Scalar);
            self.push(Inst::Const { dst: i, value: 0 });
            let slot = self.new_var(VarKind::MapValue);
            self.push(Inst::Copy { dst: slot, src: mp });
            let (head, in_count, body) = (self.new_block(), self.new_block(), self.new_block());
            self.terminate(Term::Jump(head));
            self.switch_to(head);
            self.branch(CmpOp::Lt, Operand::Var(i), Operand::Var(count), 32, in_count, done);
            self.switch_to(in_count);
            self.branch(CmpOp::Lt, Operand::Var(i), Operand::Imm(u64::from(masks)), 32, body, done);
            self.switch_to(body);
            self.probe_slot(&w, slot, 8);
            let next_i = self.alu(AluOp::Add, Operand::Var(i), Operand::Imm(1), 32);
            self.assign(i, next_i);
            self.push(Inst::PtrAdd { dst: slot, ptr: slot, off: Operand::Imm(u64::from(stride)) });
            self.terminate(Term::Jump(head));
            self.switch_to(done);
        }
        if self.cur.is_some() {
            self.terminate(Term::Jump(done));
        }
        self.switch_to(done);
        let hit = self.new_block();
        let miss = self.new_block();
        let best_prio = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: best_prio, ptr: best, off: 0, bytes: 4 });
        self.branch(CmpOp::Eq, Operand::Var(best_prio), Operand::Imm(0), 32, miss, hit);
        for b in [no_masks, no_best] {
            self.switch_to(b);
            self.terminate(Term::Jump(miss));
        }
        self.switch_to(hit);
        (best, miss)
    }
}
