//! Adding and removing headers: `set_valid`, `set_invalid`, `push`, `pop`.
//!
//! A run of consecutive reshape statements of one kind (inserts, or
//! removals) becomes one packet resize. The bytes before the change point
//! (the link layer: Ethernet and VLAN tags, whose length `a` the validity
//! bits decide) move; the rest of the packet stays where it is relative to
//! its end, and no header is rewritten:
//! - insert `n` bytes: `bpf_xdp_adjust_head(ctx, -n)` (TC:
//!   `bpf_skb_change_head(skb, n, 0)`, or with only Ethernet in front
//!   `bpf_skb_adjust_room(skb, n, BPF_ADJ_ROOM_MAC, ENCAP flags)`), copy
//!   the `a` link-layer bytes to the new front, zero the new headers;
//! - remove the bytes from the first removed header to the next valid
//!   header the program names (or the end of the last removed one; `r`,
//!   measured on the packet): copy the `a` link-layer bytes `r` bytes
//!   forward, then `bpf_xdp_adjust_head(ctx, r)` (TC: put the first 14
//!   bytes of the result at the front and `bpf_skb_adjust_room(skb, -r,
//!   BPF_ADJ_ROOM_MAC, 0)`; a TC `pop` is `bpf_skb_vlan_pop`).
//!
//! The verifier forgets every packet pointer at such a call, so each header
//! that stays valid has its offset from `data` taken before the call and
//! its pointer re-derived and bounds-checked after it. A resize that fails
//! (no headroom, a packet too short, a header in front of the removed ones
//! that is not link layer) drops the packet.

use nfl_syntax::ast::{Hook, VerdictKind};

use super::{Builder, verdict_code};
use crate::hir::{HeaderRef, Reshape};
use crate::ir::{AluOp, BlockId, CmpOp, Exit, Inst, Operand, Term, VarId, VarKind};

/// Largest offset of a re-derived header from `data` (the verifier's packet
/// range limit is 64 KiB).
const MAX_OFFSET: u64 = 0x3fff;

/// `BPF_ADJ_ROOM_MAC`
pub(super) const ADJ_ROOM_MAC: u64 = 1;

/// The Ethernet header `BPF_ADJ_ROOM_MAC` inserts after.
pub(super) const ETH_LEN: u32 = 14;

/// What one run does, at the level of header instances.
#[derive(Default)]
struct Plan {
    /// Link-layer instances before the change point: `a` is the sum of
    /// the lengths of the valid ones.
    prefix: Vec<HeaderRef>,
    /// Other instances before the change point: the packet is dropped if
    /// one is valid (the bytes in front of a removal must be link layer).
    blockers: Vec<HeaderRef>,
    /// Inserted instances and their offset in the inserted bytes.
    inserted: Vec<(HeaderRef, u32)>,
    /// Bytes inserted.
    grow: u32,
    /// The removed range: its first and last header (`None`: an insert).
    removed_range: Option<(HeaderRef, HeaderRef)>,
    /// Instances made invalid.
    removed: Vec<HeaderRef>,
    /// Kept instances `(old, new, after the change point)`: `new` differs
    /// for stack elements that shift.
    moves: Vec<(HeaderRef, HeaderRef, bool)>,
    /// A `push` onto a full stack drops the packet.
    full: Option<HeaderRef>,
    /// A `pop`'s top element, invalid once the others moved down.
    vacated: Option<HeaderRef>,
    /// Where a removal ends: at the first of these that is valid (the
    /// headers the program names after the removed ones, so that what the
    /// parser skipped, IPv4 options, goes too), else at the end of the
    /// last removed header.
    ends: Vec<HeaderRef>,
}

impl Builder<'_> {
    /// Lower one run of reshape statements (all inserts, all removals, or
    /// a single `push`/`pop`).
    /// `then_exit`: a verdict follows, so no pointer needs re-deriving.
    pub(crate) fn reshape(&mut self, ops: &[Reshape], then_exit: bool) {
        let Some(mut plan) = self.plan(ops) else { return };
        if then_exit {
            plan.moves.clear();
        }
        // A header nothing names after this point needs no pointer; stack
        // elements that shift keep their bits right.
        let used = self.after.last().unwrap_or(&self.referenced);
        plan.moves.retain(|(old, new, _)| old != new || used.get(old.header.index()).copied().unwrap_or(true));
        let fail = self.new_block();
        let drop_code = verdict_code(self.hir.hook, VerdictKind::Drop);
        self.func.blocks[fail.index()].term = Term::Exit(Exit::Return(drop_code));
        for b in plan.blockers.iter().chain(&plan.full).copied().collect::<Vec<_>>() {
            self.fail_if_valid(b, fail);
        }
        // Offsets from `data` of what stays, before the pointers go stale.
        let offs: Vec<VarId> = plan.moves.iter().map(|(old, _, _)| self.offset_if_valid(*old)).collect();
        let a = self.new_var(VarKind::Scalar);
        self.push(Inst::Const { dst: a, value: 0 });
        for p in plan.prefix.clone() {
            let len = self.hir.headers[p.header.index()].byte_len;
            let bit = self.valid_of(p);
            let (yes, join) = (self.new_block(), self.new_block());
            self.test_flag(bit, yes, join);
            self.switch_to(yes);
            self.push(Inst::Alu { op: AluOp::Add, dst: a, lhs: a, rhs: Operand::Imm(u64::from(len)), width: 64 });
            self.terminate(Term::Jump(join));
            self.switch_to(join);
        }
        let a_values = self.prefix_lengths(&plan.prefix);
        let shift = match plan.removed_range {
            None => {
                let encap = self.encap_flags(&plan.inserted);
                self.grow_front(plan.grow, a, &a_values, encap, fail);
                Operand::Imm(u64::from(plan.grow))
            }
            Some((first, last)) => {
                let r = self.removed_len(first, last, &plan.ends, fail);
                let pop = ops.first().is_some_and(|o| matches!(o, Reshape::Pop(_)));
                self.shrink_front(r, a, &a_values, pop, fail);
                Operand::Var(r)
            }
        };
        for r in plan.removed.clone() {
            self.clear_flag(self.valid_of(r));
        }
        let grows = plan.removed_range.is_none();
        for ((old, new, after), off) in plan.moves.clone().into_iter().zip(offs) {
            self.rederive(old, new, after.then_some((shift, grows)), off, fail);
        }
        if let Some(v) = plan.vacated {
            self.clear_flag(self.valid_of(v));
        }
        for (h, at) in plan.inserted.clone() {
            let ptr = self.ptr_of(h);
            let len = self.hir.headers[h.header.index()].byte_len;
            self.push(Inst::PtrAdd { dst: ptr, ptr: self.data, off: Operand::Var(a) });
            if at > 0 {
                self.push(Inst::PtrAdd { dst: ptr, ptr, off: Operand::Imm(u64::from(at)) });
            }
            self.bounds(ptr, len, fail);
            // A new header reads as zeros until written.
            self.zero_bytes(ptr, len);
            self.set_flag(self.valid_of(h));
        }
    }

    fn plan(&self, ops: &[Reshape]) -> Option<Plan> {
        let headers = &self.hir.headers;
        let all = self.layout.instances(headers);
        let pos = |r: HeaderRef| all.iter().position(|x| *x == r).unwrap_or(usize::MAX);
        let link = |r: HeaderRef| self.layout.link.get(r.header.index()).copied().unwrap_or(false);
        let len = |r: HeaderRef| headers.get(r.header.index()).map_or(0, |h| h.byte_len);
        let mut plan = Plan::default();
        match *ops.first()? {
            Reshape::SetValid(_) => {
                let mut new: Vec<HeaderRef> =
                    ops.iter().filter_map(|o| if let Reshape::SetValid(h) = o { Some(HeaderRef { header: *h, index: 0 }) } else { None }).collect();
                new.sort_by_key(|r| pos(*r));
                for r in &new {
                    plan.inserted.push((*r, plan.grow));
                    plan.grow += len(*r);
                }
                for r in all.iter().copied().filter(|r| !new.contains(r)) {
                    if link(r) {
                        plan.prefix.push(r);
                        plan.moves.push((r, r, false));
                    } else {
                        plan.moves.push((r, r, true));
                    }
                }
            }
            Reshape::Push(h) => {
                let n = headers.get(h.index())?.n_instances();
                let first = HeaderRef { header: h, index: 0 };
                plan.inserted.push((first, 0));
                plan.grow = len(first);
                let top = HeaderRef { header: h, index: n - 1 };
                plan.full = Some(top);
                self.split_around(&all, pos(first), pos(top), &mut plan);
                // Elements move up, the highest first (its old bit is read
                // before the element below overwrites it).
                for i in (0..n - 1).rev() {
                    plan.moves.push((HeaderRef { header: h, index: i }, HeaderRef { header: h, index: i + 1 }, true));
                }
            }
            Reshape::Pop(h) => {
                let n = headers.get(h.index())?.n_instances();
                let first = HeaderRef { header: h, index: 0 };
                plan.removed_range = Some((first, first));
                plan.removed.push(first);
                self.split_around(&all, pos(first), pos(HeaderRef { header: h, index: n - 1 }), &mut plan);
                for i in 1..n {
                    plan.moves.push((HeaderRef { header: h, index: i }, HeaderRef { header: h, index: i - 1 }, true));
                }
                if n > 1 {
                    plan.vacated = Some(HeaderRef { header: h, index: n - 1 });
                }
                if self.hir.hook == Hook::Tc {
                    // `bpf_skb_vlan_pop` would move a second tag out of the
                    // packet, into the skb's metadata: drop instead.
                    plan.blockers.extend((1..n).map(|index| HeaderRef { header: h, index }));
                }
            }
            Reshape::SetInvalid(_) => {
                let gone: Vec<HeaderRef> =
                    ops.iter().filter_map(|o| if let Reshape::SetInvalid(r) = o { Some(*r) } else { None }).collect();
                let first = *gone.iter().min_by_key(|r| pos(**r))?;
                let last = *gone.iter().max_by_key(|r| pos(**r))?;
                let (lo, hi) = (pos(first), pos(last));
                plan.removed_range = Some((first, last));
                plan.removed = all[lo..=hi].to_vec();
                plan.ends = all[hi + 1..].iter().copied().filter(|r| self.referenced.get(r.header.index()).copied().unwrap_or(false)).collect();
                self.split_around(&all, lo, hi, &mut plan);
            }
        }
        Some(plan)
    }

    /// Instances before `lo` go to the prefix (or block), those after `hi`
    /// are kept after the change point.
    fn split_around(&self, all: &[HeaderRef], lo: usize, hi: usize, plan: &mut Plan) {
        for (i, r) in all.iter().copied().enumerate() {
            if i < lo {
                if self.layout.link.get(r.header.index()).copied().unwrap_or(false) {
                    plan.prefix.push(r);
                    plan.moves.push((r, r, false));
                } else {
                    plan.blockers.push(r);
                }
            } else if i > hi {
                plan.moves.push((r, r, true));
            }
        }
    }

    /// The values `a` takes as the parser leaves the link layer: the start
    /// state's headers valid in order (a short packet stops it part way),
    /// and once they all are, each stack's elements valid from `[0]` up.
    /// Any other combination (which only a reshape could make) drops.
    fn prefix_lengths(&self, prefix: &[HeaderRef]) -> Vec<u32> {
        let len = |r: &HeaderRef| self.hir.headers[r.header.index()].byte_len;
        let stack = |r: &HeaderRef| self.hir.headers[r.header.index()].stack.is_some();
        let mut sums = vec![0u32];
        let mut front = 0;
        for r in prefix.iter().filter(|r| !stack(r)) {
            front += len(r);
            sums.push(front);
        }
        let mut full = vec![front];
        let mut i = 0;
        let stacked: Vec<&HeaderRef> = prefix.iter().filter(|r| stack(r)).collect();
        while let Some(r) = stacked.get(i) {
            let n = stacked[i..].iter().take_while(|x| x.header == r.header).count() as u32;
            full = full.iter().flat_map(|s| (0..=n).map(move |k| s + k * len(r))).collect();
            i += n as usize;
        }
        sums.extend(full);
        sums.sort_unstable();
        sums.dedup();
        sums
    }

    /// `off = h.ptr - data` when `h` is valid (the variable is unset, and
    /// unused, otherwise).
    fn offset_if_valid(&mut self, h: HeaderRef) -> VarId {
        let off = self.new_var(VarKind::Scalar);
        let bit = self.valid_of(h);
        let (yes, join) = (self.new_block(), self.new_block());
        self.test_flag(bit, yes, join);
        self.switch_to(yes);
        let ptr = self.ptr_of(h);
        self.push(Inst::PktRemaining { dst: off, ptr: self.data, end: ptr });
        self.terminate(Term::Jump(join));
        self.switch_to(join);
        off
    }

    /// The bytes from `first`'s start to the first valid header of `ends`,
    /// or else to the end of `last`; bounded.
    fn removed_len(&mut self, first: HeaderRef, last: HeaderRef, ends: &[HeaderRef], fail: BlockId) -> VarId {
        let r = self.new_var(VarKind::Scalar);
        let len = self.hir.headers[last.header.index()].byte_len;
        let p0 = self.ptr_of(first);
        let join = self.new_block();
        for &end in ends {
            let (yes, next) = (self.new_block(), self.new_block());
            self.test_flag(self.valid_of(end), yes, next);
            self.switch_to(yes);
            let p = self.ptr_of(end);
            self.push(Inst::PktRemaining { dst: r, ptr: p0, end: p });
            self.terminate(Term::Jump(join));
            self.switch_to(next);
        }
        if first == last {
            self.push(Inst::Const { dst: r, value: u64::from(len) });
        } else {
            let p1 = self.ptr_of(last);
            self.push(Inst::PktRemaining { dst: r, ptr: p0, end: p1 });
            self.push(Inst::Alu { op: AluOp::Add, dst: r, lhs: r, rhs: Operand::Imm(u64::from(len)), width: 64 });
        }
        self.terminate(Term::Jump(join));
        self.switch_to(join);
        let ok = self.new_block();
        self.branch(CmpOp::Gt, Operand::Var(r), Operand::Imm(MAX_OFFSET), 64, fail, ok);
        self.switch_to(ok);
        r
    }

    /// Point `new` at where `old` is now (`old`'s offset, plus the shift
    /// for what follows the change point), bounds-checked; `new`'s bit
    /// follows `old`'s.
    fn rederive(&mut self, old: HeaderRef, new: HeaderRef, shift: Option<(Operand, bool)>, off: VarId, fail: BlockId) {
        let (yes, no, join) = (self.new_block(), self.new_block(), self.new_block());
        let bit = self.valid_of(old);
        self.test_flag(bit, yes, no);
        self.switch_to(yes);
        if let Some((by, grows)) = shift {
            let op = if grows { AluOp::Add } else { AluOp::Sub };
            self.push(Inst::Alu { op, dst: off, lhs: off, rhs: by, width: 64 });
        }
        let ok = self.new_block();
        self.branch(CmpOp::Gt, Operand::Var(off), Operand::Imm(MAX_OFFSET), 64, fail, ok);
        self.switch_to(ok);
        let ptr = self.ptr_of(new);
        self.push(Inst::PtrAdd { dst: ptr, ptr: self.data, off: Operand::Var(off) });
        let len = self.hir.headers[new.header.index()].byte_len;
        self.bounds(ptr, len, fail);
        if old != new {
            self.set_flag(self.valid_of(new));
        }
        self.terminate(Term::Jump(join));
        self.switch_to(no);
        if old != new {
            self.clear_flag(self.valid_of(new));
        }
        self.terminate(Term::Jump(join));
        self.switch_to(join);
    }

    /// Continue only if `ptr + len <= data_end`; else `fail`.
    pub(super) fn bounds(&mut self, ptr: VarId, len: u32, fail: BlockId) {
        let ok = self.new_block();
        self.terminate(Term::BoundsCheck { ptr, len, end: self.end, ok, fail });
        self.switch_to(ok);
    }

    /// Go to `fail` when `h` is valid (continuing otherwise).
    fn fail_if_valid(&mut self, h: HeaderRef, fail: BlockId) {
        let next = self.new_block();
        self.test_flag(self.valid_of(h), fail, next);
        self.switch_to(next);
    }

}
