//! The packet resize of a reshape (`build::reshape`): the helper call for
//! each hook, and the byte moves around it. Only the link layer in front of
//! the change point moves; its length `a` is one of a few constants (the
//! verifier knows which on each path), so each case is a straight copy.

use nfl_syntax::ast::Hook;

use super::Builder;
use super::reshape::{ADJ_ROOM_MAC, ETH_LEN};
use crate::hir::HeaderRef;
use crate::ir::{AluOp, BlockId, CmpOp, CtxField, Helper, Inst, Operand, Term, VarId, VarKind};

impl Builder<'_> {
    /// Make `n` bytes of room at the front and move the link layer there.
    pub(super) fn grow_front(&mut self, n: u32, a: VarId, a_values: &[u32], encap: Option<u64>, fail: BlockId) {
        let ctx = Operand::Var(self.func.ctx);
        let join = self.new_block();
        if self.hir.hook == Hook::Tc
            && let Some(flags) = encap
            && a_values.contains(&ETH_LEN)
        {
            // Only Ethernet in front: the kernel inserts after it and marks
            // the encapsulation for GSO. Anything else (a tagged frame, a
            // protocol it refuses) takes the general way below.
            let (fast, slow) = (self.new_block(), self.new_block());
            self.branch(CmpOp::Eq, Operand::Var(a), Operand::Imm(u64::from(ETH_LEN)), 64, fast, slow);
            self.switch_to(fast);
            let args = vec![ctx, Operand::Imm(u64::from(n)), Operand::Imm(ADJ_ROOM_MAC), Operand::Imm(flags)];
            self.resize_call(Helper::SkbAdjustRoom, args, slow);
            self.terminate(Term::Jump(join));
            self.switch_to(slow);
        }
        let (helper, args) = match self.hir.hook {
            Hook::Xdp => (Helper::XdpAdjustHead, vec![ctx, Operand::Imm((-i64::from(n)) as u64)]),
            Hook::Tc => (Helper::SkbChangeHead, vec![ctx, Operand::Imm(u64::from(n)), Operand::Imm(0)]),
        };
        self.resize_call(helper, args, fail);
        let n = u64::from(n);
        self.per_value(a, a_values, fail, |b, v| {
            let v = u64::from(v);
            b.bounds(b.data, (n + v) as u32, fail);
            let src = b.new_var(VarKind::PktPtr);
            b.push(Inst::PtrAdd { dst: src, ptr: b.data, off: Operand::Imm(n) });
            b.copy_bytes(src, b.data, v as u32, true);
        });
        self.terminate(Term::Jump(join));
        self.switch_to(join);
    }

    /// `BPF_F_ADJ_ROOM_ENCAP_*` flags describing inserted headers that
    /// start with an IPv4 or IPv6 header (then optionally UDP and a few
    /// bytes before the inner packet), so that GSO still segments the
    /// packet; `None` for anything else (a VLAN tag, an unknown header).
    pub(super) fn encap_flags(&self, inserted: &[(HeaderRef, u32)]) -> Option<u64> {
        let info = |i: usize| inserted.get(i).and_then(|(r, _)| self.hir.headers.get(r.header.index()));
        let first = info(0)?;
        let ipv6 = first.byte_len == 40 && first.fields.iter().any(|f| f.name == "next_header");
        let mut flags = match crate::check::checksum_kind(first) {
            Some(crate::hir::ChecksumKind::Ipv4) => 1 << 1,
            _ if ipv6 => 1 << 2,
            _ => return None,
        };
        let mut rest = 1;
        if info(1).and_then(crate::check::checksum_kind) == Some(crate::hir::ChecksumKind::Udp) {
            flags |= 1 << 4;
            rest = 2;
        }
        let l2: u32 = (rest..inserted.len()).filter_map(info).map(|h| h.byte_len).sum();
        if l2 > 0 && (rest == 1 || l2 > 0xff) {
            return None;
        }
        Some(flags | (u64::from(l2) << 56))
    }

    /// Remove `r` bytes after the link layer (`a` bytes).
    pub(super) fn shrink_front(&mut self, r: VarId, a: VarId, a_values: &[u32], pop: bool, fail: BlockId) {
        let ctx = Operand::Var(self.func.ctx);
        if self.hir.hook == Hook::Tc && pop {
            self.resize_call(Helper::SkbVlanPop, vec![ctx], fail);
            return;
        }
        let tc = self.hir.hook == Hook::Tc;
        self.per_value(a, a_values, fail, |b, v| {
            // TC removes after the first 14 bytes: with a 14-byte link
            // layer, nothing moves.
            if tc && v == ETH_LEN {
                return;
            }
            b.bounds(b.data, if tc { v.max(ETH_LEN) } else { v }, fail);
            let dst = b.new_var(VarKind::PktPtr);
            b.push(Inst::PtrAdd { dst, ptr: b.data, off: Operand::Var(r) });
            b.bounds(dst, v.max(if tc { ETH_LEN } else { 0 }), fail);
            b.copy_bytes(b.data, dst, v, false);
            if tc {
                b.copy_bytes(dst, b.data, ETH_LEN, true);
            }
        });
        let neg = self.new_var(VarKind::Scalar);
        self.push(Inst::Const { dst: neg, value: 0 });
        self.push(Inst::Alu { op: AluOp::Sub, dst: neg, lhs: neg, rhs: Operand::Var(r), width: 64 });
        let (helper, args) = match self.hir.hook {
            Hook::Xdp => (Helper::XdpAdjustHead, vec![ctx, Operand::Var(r)]),
            Hook::Tc => (Helper::SkbAdjustRoom, vec![ctx, Operand::Var(neg), Operand::Imm(ADJ_ROOM_MAC), Operand::Imm(0)]),
        };
        self.resize_call(helper, args, fail);
    }

    /// Call a resizing helper; on failure drop; then reload the pointers.
    fn resize_call(&mut self, helper: Helper, args: Vec<Operand>, fail: BlockId) {
        let ret = self.new_var(VarKind::Scalar);
        self.push(Inst::Helper { dst: Some(ret), helper, args });
        let ok = self.new_block();
        self.branch(CmpOp::Ne, Operand::Var(ret), Operand::Imm(0), 64, fail, ok);
        self.switch_to(ok);
        let ctx = self.func.ctx;
        self.push(Inst::CtxLoad { dst: self.data, ctx, field: CtxField::Data });
        self.push(Inst::CtxLoad { dst: self.end, ctx, field: CtxField::DataEnd });
    }

    /// Run `f` for the value `a` has at run time (one of `values`; the
    /// verifier knows which on each path, from the validity bits).
    fn per_value(&mut self, a: VarId, values: &[u32], fail: BlockId, mut f: impl FnMut(&mut Self, u32)) {
        let join = self.new_block();
        for &v in values {
            let (this, next) = (self.new_block(), self.new_block());
            self.branch(CmpOp::Eq, Operand::Var(a), Operand::Imm(u64::from(v)), 64, this, next);
            self.switch_to(this);
            f(self, v);
            if self.cur.is_some() {
                self.terminate(Term::Jump(join));
            }
            self.switch_to(next);
        }
        self.terminate(Term::Jump(fail));
        self.switch_to(join);
    }

    /// Copy `len` packet bytes from `src` to `dst` in 8/4/2/1-byte chunks:
    /// first to last when `forward` (`dst` below `src`), else last first.
    fn copy_bytes(&mut self, src: VarId, dst: VarId, len: u32, forward: bool) {
        let mut chunks = Vec::new();
        let mut at = 0;
        while at < len {
            let w = [8u32, 4, 2, 1].into_iter().find(|w| at + w <= len).unwrap_or(1);
            chunks.push((at, w));
            at += w;
        }
        if !forward {
            chunks.reverse();
        }
        for (off, bytes) in chunks {
            let t = self.new_var(VarKind::Scalar);
            self.push(Inst::MemLoad { dst: t, ptr: src, off, bytes });
            self.push(Inst::MemStore { ptr: dst, off, bytes, src: Operand::Var(t) });
        }
    }

    pub(super) fn zero_bytes(&mut self, at: VarId, len: u32) {
        let mut off = 0;
        while off < len {
            let w = [8u32, 4, 2, 1].into_iter().find(|w| off + w <= len).unwrap_or(1);
            self.push(Inst::MemStore { ptr: at, off, bytes: w, src: Operand::Imm(0) });
            off += w;
        }
    }
}
