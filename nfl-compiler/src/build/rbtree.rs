//! The `stock` pqueue: the kernel's rbtree of `bpf_obj_new`'d nodes, as
//! `nfl-runtime/tests/kernel_rbtree.rs` first proved it by hand.
//!
//! Value `struct nfl_q_<name>`: `lock`, `count: u32`, `next_seq: u64`,
//! `bpf_rb_root root` (`contains:nfl_pq_node:node`). Node `struct
//! nfl_pq_node { rank; seq; value; bpf_rb_node node; }`, ordered by the
//! static callback `nfl_pq_less` on `(rank, seq)`. `count` bounds the tree
//! at the declared size, so a full queue refuses a push exactly as the
//! heap does.

use super::Builder;
use super::queue::{COUNT_OFF, NODE_OFF, ROOT_OFF, WORD_OFF};
use crate::bpf::Insn;
use crate::bpf::insn::*;
use crate::elf::{SubprogKind, SubprogramSpec};
use crate::hir::QueueId;
use crate::ir::{AluOp, BlockId, CmpOp, Inst, Kcall, Operand, Term, VarId, VarKind};

/// The name of the `less` callback subprogram.
pub const LESS: &str = "nfl_pq_less";

/// `bool nfl_pq_less(struct bpf_rb_node *a, const struct bpf_rb_node *b)`:
/// `(rank, seq)` of `a` below `b`'s. Fields sit at negative offsets from
/// the node member.
pub(crate) fn less_subprogram() -> SubprogramSpec {
    let node = NODE_OFF as i16;
    let insns = vec![
        Insn::ldx(BPF_DW, 3, 1, -node),
        Insn::ldx(BPF_DW, 4, 2, -node),
        Insn::mov64_imm(0, 1),
        Insn::jmp_reg(BPF_JLT, 3, 4, 7), // -> exit
        Insn::mov64_imm(0, 0),
        Insn::jmp_reg(BPF_JGT, 3, 4, 5), // -> exit
        Insn::ldx(BPF_DW, 3, 1, 8 - node),
        Insn::ldx(BPF_DW, 4, 2, 8 - node),
        Insn::mov64_imm(0, 1),
        Insn::jmp_reg(BPF_JLT, 3, 4, 1), // -> exit
        Insn::mov64_imm(0, 0),
        Insn::exit(),
    ];
    SubprogramSpec {
        name: LESS.into(),
        kind: SubprogKind::RbLess,
        insns,
        map_relocs: Vec::new(),
        line_info: Vec::new(),
    }
}

impl Builder<'_> {
    fn kcall(&mut self, call: Kcall, args: Vec<VarId>) -> VarId {
        let dst = self.new_var(VarKind::AllocOrNull);
        self.push(Inst::Kcall {
            dst: Some(dst),
            call,
            args,
        });
        dst
    }

    /// Continue where `r` is not null, as an `Alloc`; `null` otherwise.
    fn non_null(&mut self, r: VarId, null: BlockId) -> VarId {
        let ok = self.new_block();
        self.terminate(Term::Branch {
            op: CmpOp::Eq,
            lhs: r,
            rhs: Operand::Imm(0),
            width: 64,
            then_bb: null,
            else_bb: ok,
        });
        self.switch_to(ok);
        let a = self.new_var(VarKind::Alloc);
        self.push(Inst::Copy { dst: a, src: r });
        a
    }

    fn offset(&mut self, kind: VarKind, p: VarId, off: i64) -> VarId {
        let d = self.new_var(kind);
        self.push(Inst::PtrAdd {
            dst: d,
            ptr: p,
            off: Operand::Imm(off as u64),
        });
        d
    }

    pub(crate) fn rbtree_push(
        &mut self,
        q: QueueId,
        rank: Operand,
        v: Operand,
        res: VarId,
        join: BlockId,
    ) {
        let size = self.hir.queues[q.index()].size;
        let map = self.queue_maps[q.index()];
        let (p, miss) = self.lookup_first(map);
        let fresh = self.kcall(Kcall::ObjNew, vec![]);
        let node = self.non_null(fresh, join);
        self.store(node, 0, 8, rank);
        self.store(node, 16, 8, v);
        self.push(Inst::Kcall {
            dst: None,
            call: Kcall::SpinLock,
            args: vec![p],
        });
        let (n, go) = self.unlock_if_full(p, size);
        self.push(Inst::Kcall {
            dst: None,
            call: Kcall::ObjDrop,
            args: vec![node],
        });
        self.terminate(Term::Jump(join));
        self.switch_to(go);
        let seq = self.load(p, WORD_OFF, 8);
        self.store(node, 8, 8, Operand::Var(seq));
        let next = self.alu(AluOp::Add, Operand::Var(seq), Operand::Imm(1), 64);
        self.store(p, WORD_OFF, 8, next);
        let n1 = self.alu(AluOp::Add, Operand::Var(n), Operand::Imm(1), 32);
        self.store(p, COUNT_OFF, 4, n1);
        let root = self.offset(VarKind::MapValue, p, i64::from(ROOT_OFF));
        let rb = self.offset(VarKind::Alloc, node, i64::from(NODE_OFF));
        self.push(Inst::Kcall {
            dst: None,
            call: Kcall::RbAdd,
            args: vec![root, rb],
        });
        self.unlock(p);
        self.push(Inst::Const { dst: res, value: 1 });
        self.terminate(Term::Jump(join));
        self.switch_to(miss);
        self.terminate(Term::Jump(join));
    }

    /// `pop_min` (or `peek`) into `dst`; falls through where present.
    pub(crate) fn rbtree_take(&mut self, q: QueueId, peek: bool, dst: VarId, absent: BlockId) {
        let (p, miss) = self.lock_value(q);
        let empty = self.new_block();
        let root = self.offset(VarKind::MapValue, p, i64::from(ROOT_OFF));
        let first = self.kcall(Kcall::RbFirst, vec![root]);
        let first = self.non_null(first, empty);
        if peek {
            let obj = self.offset(VarKind::Alloc, first, -i64::from(NODE_OFF));
            self.push(Inst::MemLoad {
                dst,
                ptr: obj,
                off: 16,
                bytes: 8,
            });
            self.unlock(p);
        } else {
            let removed = self.kcall(Kcall::RbRemove, vec![root, first]);
            let rb = self.non_null(removed, empty);
            let n = self.load(p, COUNT_OFF, 4);
            let n1 = self.alu(AluOp::Sub, Operand::Var(n), Operand::Imm(1), 32);
            self.store(p, COUNT_OFF, 4, n1);
            self.unlock(p);
            let obj = self.offset(VarKind::Alloc, rb, -i64::from(NODE_OFF));
            self.push(Inst::MemLoad {
                dst,
                ptr: obj,
                off: 16,
                bytes: 8,
            });
            self.push(Inst::Kcall {
                dst: None,
                call: Kcall::ObjDrop,
                args: vec![obj],
            });
        }
        let present = self.cur;
        self.switch_to(empty);
        self.unlock(p);
        self.terminate(Term::Jump(absent));
        self.switch_to(miss);
        self.terminate(Term::Jump(absent));
        self.cur = present;
    }
}
