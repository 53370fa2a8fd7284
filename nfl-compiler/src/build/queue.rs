//! Queues: maps, BTF value types, and the per-profile dispatch.
//!
//! - fifo: a `BPF_MAP_TYPE_QUEUE` in every profile (push/pop/peek helpers,
//!   atomic in the kernel);
//! - pqueue: `helpers` keeps a bounded binary min-heap in one array value
//!   (`heap.rs`); `stock` (and `enetstl`, which has no queue kfuncs of its
//!   own) a kernel rbtree of `bpf_obj_new`'d nodes (`rbtree.rs`);
//! - wheel: slots of bounded FIFO lists and an occupancy word in one array
//!   value, the next slot found with a software ffs (`wheel.rs`), in every
//!   profile (no stock kfunc scans bits).
//!
//! Every value with more than one field is updated under the
//! `bpf_spin_lock` at its offset 0, so it needs program BTF: the structs
//! and map bindings go in [`GraphNeeds`], which the driver writes with
//! `write_object_with`.

use super::Builder;
use crate::elf::{
    Contains, FieldSpec, FieldType, KernelStruct, MapValue, StructSpec, SubprogramSpec,
};
use crate::hir::{Expr, Optional, QueueHir, QueueId, QueueKind};
use crate::ir::{
    BlockId, Call, CmpOp, Inst, Kcall, MapDef, MapKind, Operand, Term, VarId, VarKind,
};
use crate::target::Target;

pub use super::rbtree::LESS;

/// The BTF an object's queues need (empty without pqueues and wheels).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GraphNeeds {
    pub structs: Vec<StructSpec>,
    pub map_values: Vec<MapValue>,
    pub subprograms: Vec<SubprogramSpec>,
}

/// How a queue is laid out under a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueLowering {
    QueueMap,
    Heap,
    Rbtree,
    Wheel,
}

pub fn lowering(q: &QueueHir, target: Target) -> QueueLowering {
    match q.kind {
        QueueKind::Fifo => QueueLowering::QueueMap,
        QueueKind::Pqueue if target.has_graph_kfuncs() => QueueLowering::Rbtree,
        QueueKind::Pqueue => QueueLowering::Heap,
        QueueKind::Wheel => QueueLowering::Wheel,
    }
}

/// Offsets shared by the locked values: lock at 0, `count: u32` at 4,
/// `u64` at 8 (next sequence number, or the wheel's base tick). Public for
/// the control plane, which reads these values back (`nflc queue peek`).
pub const COUNT_OFF: u32 = 4;
pub const WORD_OFF: u32 = 8;
/// The heap's sift cursor (see `heap.rs`), then its entries
/// `{rank, seq, value}`.
pub(crate) const HEAP_CURSOR: u32 = 16;
pub const HEAP_ENTS: u32 = 24;
/// A heap entry's bytes.
pub const HEAP_STRIDE: u32 = 24;
/// The wheel's occupancy word, then its per-slot `{head: u32, len: u32}`
/// (see `wheel.rs`).
pub const WHEEL_BITMAP_OFF: u32 = 16;
pub const WHEEL_SLOTS_OFF: u32 = 24;
/// The rbtree root in `struct nfl_pq`.
pub(crate) const ROOT_OFF: u32 = 16;
/// `struct nfl_pq_node { rank; seq; value; bpf_rb_node node; }`
pub(crate) const NODE_OFF: u32 = 24;

/// Heap slots: `size` rounded up to a power of two (indices are masked).
pub fn heap_slots(q: &QueueHir) -> u32 {
    q.size.next_power_of_two()
}

fn field(name: &str, ty: FieldType) -> FieldSpec {
    FieldSpec::new(name, ty)
}

fn head(fields: Vec<FieldSpec>) -> Vec<FieldSpec> {
    let mut all = vec![
        field("lock", FieldType::Kernel(KernelStruct::SpinLock)),
        field("count", FieldType::U32),
    ];
    all.extend(fields);
    all
}

/// The value struct of a heap or wheel queue, named `nfl_q_<name>`.
pub fn value_struct(q: &QueueHir, lowering: QueueLowering) -> Option<StructSpec> {
    let fields = match lowering {
        QueueLowering::Heap => head(vec![
            field("next_seq", FieldType::U64),
            field("cursor", FieldType::U64),
            field("ents", FieldType::U64Array(3 * heap_slots(q))),
        ]),
        QueueLowering::Wheel => head(vec![
            field("base", FieldType::U64),
            field("bitmap", FieldType::U64),
            field("slots", FieldType::U64Array(q.slots)),
            field("ents", FieldType::U64Array(q.slots * q.slot_cap)),
        ]),
        QueueLowering::Rbtree => {
            let mut root = field("root", FieldType::Kernel(KernelStruct::RbRoot));
            root.contains = Some(Contains {
                node_struct: "nfl_pq_node".into(),
                node_field: "node".into(),
            });
            head(vec![field("next_seq", FieldType::U64), root])
        }
        QueueLowering::QueueMap => return None,
    };
    Some(StructSpec {
        name: format!("nfl_q_{}", q.name),
        fields,
    })
}

pub(crate) fn node_struct() -> StructSpec {
    StructSpec {
        name: "nfl_pq_node".into(),
        fields: vec![
            field("rank", FieldType::U64),
            field("seq", FieldType::U64),
            field("value", FieldType::U64),
            field("node", FieldType::Kernel(KernelStruct::RbNode)),
        ],
    }
}

/// The queue's map, and the BTF it needs.
pub(crate) fn queue_map(q: &QueueHir, target: Target, needs: &mut GraphNeeds) -> MapDef {
    let l = lowering(q, target);
    let Some(s) = value_struct(q, l) else {
        let value_size = crate::table::slot_bytes(q.elem.width());
        return MapDef {
            name: q.name.clone(),
            kind: MapKind::Queue,
            key_size: 0,
            value_size,
            max_entries: q.size,
            flags: 0,
        };
    };
    if l == QueueLowering::Rbtree && !needs.structs.iter().any(|s| s.name == "nfl_pq_node") {
        needs.structs.insert(0, node_struct());
        needs.subprograms.push(super::rbtree::less_subprogram());
    }
    let value_size = s.layout().size;
    needs.map_values.push(MapValue {
        map: q.name.clone(),
        value_struct: s.name.clone(),
    });
    needs.structs.push(s);
    MapDef {
        name: q.name.clone(),
        kind: MapKind::Array,
        key_size: 4,
        value_size,
        max_entries: 1,
        flags: 0,
    }
}

impl Builder<'_> {
    pub(crate) fn queue_of(&self, q: QueueId) -> (&QueueHir, QueueLowering) {
        let h = &self.hir.queues[q.index()];
        (h, lowering(h, self.target))
    }

    /// The queue's single value, locked; `miss` if the lookup failed
    /// (never, for an array map).
    pub(crate) fn lock_value(&mut self, q: QueueId) -> (VarId, BlockId) {
        let map = self.queue_maps[q.index()];
        let (p, miss) = self.lookup_first(map);
        self.push(Inst::Kcall {
            dst: None,
            call: Kcall::SpinLock,
            args: vec![p],
        });
        (p, miss)
    }

    /// The locked queue's element count `n` and the block where it has
    /// room; the current block is left where it is full, unlocked.
    pub(crate) fn unlock_if_full(&mut self, p: VarId, size: u32) -> (VarId, BlockId) {
        let n = self.load(p, COUNT_OFF, 4);
        let (full, go) = (self.new_block(), self.new_block());
        self.branch(CmpOp::Ge, Operand::Var(n), Operand::Imm(u64::from(size)), 64, full, go);
        self.switch_to(full);
        self.unlock(p);
        (n, go)
    }

    pub(crate) fn unlock(&mut self, p: VarId) {
        self.push(Inst::Kcall {
            dst: None,
            call: Kcall::SpinUnlock,
            args: vec![p],
        });
    }

    /// `Q.push(..)`: 1 when the element went in, 0 when the queue was full.
    pub(crate) fn queue_push(&mut self, q: QueueId, rank: Option<&Expr>, value: &Expr) -> Operand {
        let rank = rank.map(|r| self.value(r, None));
        let v = self.value(value, None);
        let res = self.new_var(VarKind::Scalar);
        self.push(Inst::Const { dst: res, value: 0 });
        let join = self.new_block();
        match self.queue_of(q).1 {
            QueueLowering::QueueMap => {
                let (map, bytes) = (
                    self.queue_maps[q.index()],
                    self.func.maps[self.queue_maps[q.index()].index()].value_size,
                );
                let buf = self.new_buf(bytes);
                self.push(Inst::BufStore {
                    buf,
                    off: 0,
                    bytes,
                    src: v,
                });
                let r = self.new_var(VarKind::Scalar);
                self.push(Inst::Call {
                    dst: Some(r),
                    call: Call::MapPush {
                        map,
                        value: buf,
                        flags: 0,
                    },
                });
                let ok = self.new_block();
                self.branch(CmpOp::Eq, Operand::Var(r), Operand::Imm(0), 64, ok, join);
                self.switch_to(ok);
                self.push(Inst::Const { dst: res, value: 1 });
                self.terminate(Term::Jump(join));
            }
            QueueLowering::Heap => self.heap_push(q, rank.unwrap_or(Operand::Imm(0)), v, res, join),
            QueueLowering::Rbtree => {
                self.rbtree_push(q, rank.unwrap_or(Operand::Imm(0)), v, res, join)
            }
            QueueLowering::Wheel => {
                self.wheel_push(q, rank.unwrap_or(Operand::Imm(0)), v, res, join)
            }
        }
        self.switch_to(join);
        Operand::Var(res)
    }

    /// `pop`, `pop_min`, `peek`, `pop_due` into `dst`; continues where an
    /// element was found and returns the block taken when there was none.
    pub(crate) fn queue_take(&mut self, value: &Optional, dst: VarId) -> BlockId {
        let (q, peek, now) = match value {
            Optional::QueuePop(q) => (*q, false, None),
            Optional::QueuePeek(q) => (*q, true, None),
            Optional::QueuePopDue { queue, now } => (*queue, false, Some(now)),
            _ => unreachable_optional(),
        };
        let absent = self.new_block();
        match self.queue_of(q).1 {
            QueueLowering::QueueMap => {
                let map = self.queue_maps[q.index()];
                let bytes = self.func.maps[map.index()].value_size;
                let buf = self.new_buf(bytes);
                let r = self.new_var(VarKind::Scalar);
                let call = if peek {
                    Call::MapPeek { map, value: buf }
                } else {
                    Call::MapPop { map, value: buf }
                };
                self.push(Inst::Call { dst: Some(r), call });
                let got = self.new_block();
                self.branch(CmpOp::Eq, Operand::Var(r), Operand::Imm(0), 64, got, absent);
                self.switch_to(got);
                self.push(Inst::BufLoad {
                    dst,
                    buf,
                    off: 0,
                    bytes,
                });
            }
            QueueLowering::Heap => self.heap_take(q, peek, dst, absent),
            QueueLowering::Rbtree => self.rbtree_take(q, peek, dst, absent),
            QueueLowering::Wheel => {
                let now = now.map_or(Operand::Imm(0), |n| self.value(n, None));
                self.wheel_pop_due(q, now, dst, absent);
            }
        }
        absent
    }

    /// `dst = *p[off]`, a fresh scalar.
    pub(crate) fn load(&mut self, p: VarId, off: u32, bytes: u32) -> VarId {
        let dst = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad {
            dst,
            ptr: p,
            off,
            bytes,
        });
        dst
    }

    pub(crate) fn store(&mut self, p: VarId, off: u32, bytes: u32, src: Operand) {
        self.push(Inst::MemStore {
            ptr: p,
            off,
            bytes,
            src,
        });
    }

    /// `p + base + (idx & mask) * stride`: a pointer the verifier can bound.
    pub(crate) fn elem_ptr(
        &mut self,
        p: VarId,
        base: u32,
        idx: Operand,
        mask: u32,
        stride: u32,
    ) -> VarId {
        use crate::ir::AluOp;
        let i = self.alu(AluOp::And, idx, Operand::Imm(u64::from(mask)), 64);
        let off = self.alu(AluOp::Mul, i, Operand::Imm(u64::from(stride)), 64);
        let off = self.alu(AluOp::Add, off, Operand::Imm(u64::from(base)), 64);
        let q = self.new_var(VarKind::MapValue);
        self.push(Inst::PtrAdd {
            dst: q,
            ptr: p,
            off,
        });
        q
    }
}

/// The checker only builds `Optional::Queue*` for queues.
fn unreachable_optional() -> (QueueId, bool, Option<&'static Expr>) {
    (QueueId(0), true, None)
}
