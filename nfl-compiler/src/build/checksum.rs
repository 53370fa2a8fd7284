//! `H.update_checksum()`: IPv4 header checksums recomputed, TCP and UDP
//! checksums updated incrementally (RFC 1624).
//!
//! IPv4: the header is 20 bytes, so the checksum is recomputed from the
//! packet: zero it, add the five 32-bit words as loaded (the one's
//! complement sum does not depend on byte order), fold, complement, store.
//! TCP/UDP: the checksum covers the payload, which eBPF cannot cheaply
//! walk, so each header `update_checksum()` is called on gets an
//! accumulator (zero at entry). Every store to one of its fields, and to
//! `src`/`dst` of an IPv4 header the parser extracts (the pseudo-header),
//! adds `~old + new` for each 16-bit word the store touches; the update
//! folds the accumulator into the checksum (`HC' = ~(~HC + sum)`) and
//! clears it. A UDP checksum of 0 (none) stays 0; a computed 0 is sent as
//! 0xffff.

use super::Builder;
use crate::hir::{Block, ChecksumKind, HeaderRef, Hir, Stmt};
use crate::ir::{AluOp, CmpOp, Function, Inst, Operand, Term, VarId, VarKind};

/// Words touched by one store, to add to accumulators after it.
pub(crate) struct Pending {
    accs: Vec<VarId>,
    ptr: VarId,
    hdr_len: u32,
    words: Vec<u32>,
}

/// One accumulator per header a TCP/UDP `update_checksum()` names.
pub(crate) fn accumulators(hir: &Hir, func: &mut Function) -> Vec<Option<VarId>> {
    let mut want = vec![false; hir.headers.len()];
    let mut visit = |b: &Block| mark(b, &mut want);
    visit(&hir.control);
    hir.actions.iter().for_each(|a| visit(&a.body));
    want.iter()
        .enumerate()
        .map(|(i, w)| w.then(|| super::new_var(func, VarKind::Scalar, Some(format!("csum.{}", hir.headers[i].name)))))
        .collect()
}

fn mark(b: &Block, want: &mut [bool]) {
    for s in &b.stmts {
        match s {
            Stmt::Checksum { header, kind: ChecksumKind::Tcp | ChecksumKind::Udp, .. } => {
                if let Some(w) = want.get_mut(header.header.index()) {
                    *w = true;
                }
            }
            Stmt::If { then_block, else_block, .. } => {
                mark(then_block, want);
                if let Some(e) = else_block {
                    mark(e, want);
                }
            }
            Stmt::LetElse { else_block, .. } => mark(else_block, want),
            _ => {}
        }
    }
}

/// Bit offset of the 16-bit checksum field in each kind of header.
fn checksum_bit(kind: ChecksumKind) -> u32 {
    match kind {
        ChecksumKind::Ipv4 => 80,
        ChecksumKind::Tcp => 128,
        ChecksumKind::Udp => 48,
    }
}

impl Builder<'_> {
    /// Before a store to a header field: the accumulators it changes, with
    /// `~old` of each touched word already added.
    pub(crate) fn checksum_before_store(&mut self, r: HeaderRef, bit_offset: u32, width: u32) -> Option<Pending> {
        let info = &self.hir.headers[r.header.index()];
        let kind = crate::check::checksum_kind(info);
        let mut accs = Vec::new();
        if let Some(Some(acc)) = self.csum_acc.get(r.header.index())
            && kind.is_some_and(|k| checksum_bit(k) != bit_offset)
        {
            accs.push(*acc);
        }
        let pseudo = kind == Some(ChecksumKind::Ipv4)
            && self.layout.extracted.get(r.header.index()).copied().unwrap_or(false)
            && bit_offset + width > 96;
        if pseudo {
            let more: Vec<VarId> = self.csum_acc.iter().flatten().copied().filter(|a| !accs.contains(a)).collect();
            accs.extend(more);
        }
        if accs.is_empty() {
            return None;
        }
        let hdr_len = info.byte_len;
        let words: Vec<u32> = (bit_offset / 16..=(bit_offset + width - 1) / 16).collect();
        let ptr = self.ptr_of(r);
        for &w in &words {
            let old = self.word(ptr, hdr_len, w);
            self.push(Inst::Alu { op: AluOp::Xor, dst: old, lhs: old, rhs: Operand::Imm(0xffff), width: 64 });
            self.add_to(&accs, old);
        }
        Some(Pending { accs, ptr, hdr_len, words })
    }

    /// After the store: add each touched word's new value.
    pub(crate) fn checksum_after_store(&mut self, r: HeaderRef, pending: Option<Pending>) {
        let Some(p) = pending else { return };
        debug_assert_eq!(p.ptr, self.ptr_of(r));
        for &w in &p.words {
            let new = self.word(p.ptr, p.hdr_len, w);
            self.add_to(&p.accs, new);
        }
    }

    fn word(&mut self, ptr: VarId, hdr_len: u32, w: u32) -> VarId {
        let v = self.new_var(VarKind::Scalar);
        self.push(Inst::LoadField { dst: v, ptr, hdr_len, bit_offset: w * 16, width: 16, wire: false });
        v
    }

    fn add_to(&mut self, accs: &[VarId], v: VarId) {
        for &acc in accs {
            self.push(Inst::Alu { op: AluOp::Add, dst: acc, lhs: acc, rhs: Operand::Var(v), width: 64 });
        }
    }

    /// `H.update_checksum()`
    pub(crate) fn update_checksum(&mut self, r: HeaderRef, kind: ChecksumKind) {
        let ptr = self.ptr_of(r);
        let hdr_len = self.hir.headers[r.header.index()].byte_len;
        if kind == ChecksumKind::Ipv4 {
            self.ipv4_checksum(ptr);
            return;
        }
        let Some(Some(acc)) = self.csum_acc.get(r.header.index()).copied() else { return };
        let bit = checksum_bit(kind);
        let old = self.new_var(VarKind::Scalar);
        self.push(Inst::LoadField { dst: old, ptr, hdr_len, bit_offset: bit, width: 16, wire: false });
        let join = self.new_block();
        if kind == ChecksumKind::Udp {
            let go = self.new_block();
            self.branch(CmpOp::Eq, Operand::Var(old), Operand::Imm(0), 32, join, go);
            self.switch_to(go);
        }
        self.push(Inst::Alu { op: AluOp::Xor, dst: old, lhs: old, rhs: Operand::Imm(0xffff), width: 64 });
        self.push(Inst::Alu { op: AluOp::Add, dst: old, lhs: old, rhs: Operand::Var(acc), width: 64 });
        let sum = self.fold(old, 3);
        if kind == ChecksumKind::Udp {
            let (zero, store) = (self.new_block(), self.new_block());
            self.branch(CmpOp::Eq, Operand::Var(sum), Operand::Imm(0), 32, zero, store);
            self.switch_to(zero);
            self.push(Inst::Const { dst: sum, value: 0xffff });
            self.terminate(Term::Jump(store));
            self.switch_to(store);
        }
        self.push(Inst::StoreField { ptr, hdr_len, bit_offset: bit, width: 16, src: Operand::Var(sum) });
        self.terminate(Term::Jump(join));
        self.switch_to(join);
        self.push(Inst::Const { dst: acc, value: 0 });
    }

    /// The IPv4 header checksum of the 20 bytes at `ptr`, by hand.
    fn ipv4_checksum(&mut self, ptr: VarId) {
        self.push(Inst::MemStore { ptr, off: 10, bytes: 2, src: Operand::Imm(0) });
        let sum = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: sum, ptr, off: 0, bytes: 4 });
        for off in [4, 8, 12, 16] {
            let w = self.new_var(VarKind::Scalar);
            self.push(Inst::MemLoad { dst: w, ptr, off, bytes: 4 });
            self.push(Inst::Alu { op: AluOp::Add, dst: sum, lhs: sum, rhs: Operand::Var(w), width: 64 });
        }
        // Five 32-bit words: at most 35 bits; fold to 16.
        let sum = self.fold(sum, 3);
        self.push(Inst::MemStore { ptr, off: 10, bytes: 2, src: Operand::Var(sum) });
    }

    /// `~fold(v) & 0xffff`, folding the carries `times` times.
    fn fold(&mut self, v: VarId, times: u32) -> VarId {
        let hi = self.new_var(VarKind::Scalar);
        for _ in 0..times {
            self.push(Inst::Alu { op: AluOp::Shr, dst: hi, lhs: v, rhs: Operand::Imm(16), width: 64 });
            self.push(Inst::Alu { op: AluOp::And, dst: v, lhs: v, rhs: Operand::Imm(0xffff), width: 64 });
            self.push(Inst::Alu { op: AluOp::Add, dst: v, lhs: v, rhs: Operand::Var(hi), width: 64 });
        }
        self.push(Inst::Alu { op: AluOp::Xor, dst: v, lhs: v, rhs: Operand::Imm(0xffff), width: 64 });
        v
    }
}
