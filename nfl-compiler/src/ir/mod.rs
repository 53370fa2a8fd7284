//! The mid-level IR: one function per program, a CFG of basic blocks over
//! mutable virtual variables.
//!
//! The IR sits between the HIR (names and types) and eBPF (registers). It is
//! deliberately close to the machine: every value is a 64-bit variable, ALU
//! operations carry the bit width they compute at, and packet access is
//! explicit (`BoundsCheck`, `LoadField`, `StoreField`).
//!
//! Invariants (checked by [`verify::verify`] after every pass in debug builds):
//! - every `BlockId` and `VarId` indexes its arena;
//! - a scalar variable that holds a `uN` value has every bit above N clear;
//! - `PktPtr` variables are only produced by `CtxLoad(Data)`, `Copy` of a
//!   `PktPtr` or `PtrAdd`, and only consumed by `PtrAdd`, `Copy`,
//!   `LoadField`, `StoreField`, `BoundsCheck`, `PktRemaining` (as either
//!   end), and the raw `MemLoad`/`MemStore` a reshape moves bytes with;
//! - after an `Inst::Helper` that resizes the packet, `data`/`data_end` are
//!   reloaded and every packet pointer used later is re-derived from them;
//! - a `LoadField`/`StoreField` through a pointer is dominated by a
//!   `BoundsCheck` of that pointer covering the field.

pub mod print;
pub mod verify;

use nfl_syntax::ast::{Hook, Span};

crate::entity!(BlockId, "bb");
crate::entity!(VarId, "v");
crate::entity!(MapId, "map");
crate::entity!(BufId, "buf");

/// What a variable holds, as the kernel verifier will see it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VarKind {
    Scalar,
    /// The program's context pointer (`struct xdp_md *` / `struct __sk_buff *`).
    Ctx,
    /// A pointer into the packet.
    PktPtr,
    /// The packet end pointer (`data_end`).
    PktEnd,
    /// The result of a map lookup: a map value pointer or null. Compare it
    /// with 0 (64-bit) before using it as a `MapValue`.
    MapValueOrNull,
    /// A non-null pointer to a map value (a `Copy` of a checked
    /// `MapValueOrNull`).
    MapValue,
    /// What `bpf_obj_new_impl`, `bpf_rbtree_first` and `bpf_rbtree_remove`
    /// return: a pointer to an allocated object (or its `bpf_rb_node`), or
    /// null. Compare it with 0 (64-bit) before using it as an `Alloc`.
    AllocOrNull,
    /// A non-null pointer into an allocated object (a `Copy` of a checked
    /// `AllocOrNull`, or a `PtrAdd` of one: `container_of`).
    Alloc,
    /// The address of a stack buffer (`BufAddr`), for kfunc arguments.
    StackPtr,
}

/// `BPF_MAP_TYPE_*` of the maps the compiler creates.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum MapKind {
    Hash,
    Array,
    PerCpuArray,
    PerCpuHash,
    LruHash,
    LruPerCpuHash,
    LpmTrie,
    Queue,
    /// `BPF_MAP_TYPE_PROG_ARRAY`: the stages of a split program.
    ProgArray,
}

impl MapKind {
    /// The kernel's `enum bpf_map_type` value.
    pub fn type_id(self) -> u32 {
        match self {
            MapKind::Hash => 1,
            MapKind::Array => 2,
            MapKind::PerCpuHash => 5,
            MapKind::PerCpuArray => 6,
            MapKind::LruHash => 9,
            MapKind::LruPerCpuHash => 10,
            MapKind::LpmTrie => 11,
            MapKind::Queue => 22,
            MapKind::ProgArray => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MapKind::Hash => "hash",
            MapKind::Array => "array",
            MapKind::PerCpuHash => "percpu_hash",
            MapKind::PerCpuArray => "percpu_array",
            MapKind::LruHash => "lru_hash",
            MapKind::LruPerCpuHash => "lru_percpu_hash",
            MapKind::LpmTrie => "lpm_trie",
            MapKind::Queue => "queue",
            MapKind::ProgArray => "prog_array",
        }
    }
}

/// A map the program uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDef {
    /// The object symbol and pin name (a C identifier).
    pub name: String,
    pub kind: MapKind,
    /// 0 for queues.
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// `BPF_F_*` creation flags (`BPF_F_NO_PREALLOC` for LPM tries).
    pub flags: u32,
}

/// A stack buffer: map keys and values handed to helpers. The builder
/// writes every byte before a helper reads it (the verifier requires it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufData {
    pub size: u32,
}

/// A helper call that does not end the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `bpf_ktime_get_ns()`
    KtimeNs,
    /// `bpf_map_update_elem(map, key, value, flags)`; returns 0 or -errno.
    MapUpdate { map: MapId, key: BufId, value: BufId, flags: u64 },
    /// `bpf_map_delete_elem(map, key)`
    MapDelete { map: MapId, key: BufId },
    /// `bpf_map_push_elem(map, value, flags)`
    MapPush { map: MapId, value: BufId, flags: u64 },
    /// `bpf_map_pop_elem(map, value)`; 0 when an element was popped.
    MapPop { map: MapId, value: BufId },
    /// `bpf_map_peek_elem(map, value)`; 0 when an element was read.
    MapPeek { map: MapId, value: BufId },
}

/// Calls the stock profile's queues make: the spin lock helpers and the
/// kernel's graph kfuncs. The node type and the `less` callback are fixed:
/// `struct nfl_pq_node` and `nfl_pq_less` (`build::rbtree`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kcall {
    /// `bpf_spin_lock(value)`: the lock at offset 0 of a map value.
    SpinLock,
    /// `bpf_spin_unlock(value)`
    SpinUnlock,
    /// `bpf_obj_new_impl(type id of nfl_pq_node, NULL)`: `AllocOrNull`.
    ObjNew,
    /// `bpf_obj_drop_impl(obj, NULL)`
    ObjDrop,
    /// `bpf_rbtree_add_impl(root, node, nfl_pq_less, NULL, 0)`
    RbAdd,
    /// `bpf_rbtree_first(root)`: `AllocOrNull` (a node, not owned).
    RbFirst,
    /// `bpf_rbtree_remove(root, node)`: `AllocOrNull` (a node, owned).
    RbRemove,
    /// kfunc-lib's fused sketch kfuncs (the `enetstl` profile,
    /// docs/kfunc-lib.md), each `f(value, value__sz, key, key__sz[, x])`
    /// with the value a `MapValue`, the key a `StackPtr`, sizes and `x`
    /// scalars; they return a scalar.
    /// `nfl_cm_add(ctr, sz, key, ksz, rows << 32 | n)`
    NflCmAdd,
    /// `nfl_cm_query(ctr, sz, key, ksz, rows)`: the count-min estimate.
    NflCmQuery,
    /// `nfl_cs_add(ctr, sz, key, ksz, rows << 32 | n)`
    NflCsAdd,
    /// `nfl_bloom_add(words, sz, key, ksz, k)`
    NflBloomAdd,
    /// `nfl_bloom_contains(words, sz, key, ksz, k)`: 1 when present.
    NflBloomContains,
    /// `nfl_hll_add(regs, sz, key, ksz)`
    NflHllAdd,
    /// `bpf_iter_num_new(it, start, end)` with `it` a `StackPtr` to an
    /// 8-byte buffer.
    IterNumNew,
    /// `bpf_iter_num_next(it)`: `AllocOrNull`, a pointer to the next `int`.
    IterNumNext,
    /// `bpf_iter_num_destroy(it)`
    IterNumDestroy,
}

impl Kcall {
    /// The kfunc's name (`None` for the spin lock helpers).
    pub fn kfunc(self) -> Option<&'static str> {
        Some(match self {
            Kcall::SpinLock | Kcall::SpinUnlock => return None,
            Kcall::ObjNew => "bpf_obj_new_impl",
            Kcall::ObjDrop => "bpf_obj_drop_impl",
            Kcall::RbAdd => "bpf_rbtree_add_impl",
            Kcall::RbFirst => "bpf_rbtree_first",
            Kcall::RbRemove => "bpf_rbtree_remove",
            Kcall::NflCmAdd => "nfl_cm_add",
            Kcall::NflCmQuery => "nfl_cm_query",
            Kcall::NflCsAdd => "nfl_cs_add",
            Kcall::NflBloomAdd => "nfl_bloom_add",
            Kcall::NflBloomContains => "nfl_bloom_contains",
            Kcall::NflHllAdd => "nfl_hll_add",
            Kcall::IterNumNew => "bpf_iter_num_new",
            Kcall::IterNumNext => "bpf_iter_num_next",
            Kcall::IterNumDestroy => "bpf_iter_num_destroy",
        })
    }

    pub const ALL: [Kcall; 16] = [
        Kcall::SpinLock,
        Kcall::SpinUnlock,
        Kcall::ObjNew,
        Kcall::ObjDrop,
        Kcall::RbAdd,
        Kcall::RbFirst,
        Kcall::RbRemove,
        Kcall::NflCmAdd,
        Kcall::NflCmQuery,
        Kcall::NflCsAdd,
        Kcall::NflBloomAdd,
        Kcall::NflBloomContains,
        Kcall::NflHllAdd,
        Kcall::IterNumNew,
        Kcall::IterNumNext,
        Kcall::IterNumDestroy,
    ];

    /// kfunc-lib's sketch kfuncs (scalar results, stack-buffer keys).
    pub fn is_nfl(self) -> bool {
        matches!(
            self,
            Kcall::NflCmAdd | Kcall::NflCmQuery | Kcall::NflCsAdd | Kcall::NflBloomAdd | Kcall::NflBloomContains | Kcall::NflHllAdd
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Kcall::SpinLock => "spin_lock",
            Kcall::SpinUnlock => "spin_unlock",
            _ => self.kfunc().unwrap_or("?"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct VarData {
    pub kind: VarKind,
    /// A readable name for the text form (`ipv4.ptr`, `meta.mark`, ...).
    pub name: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Operand {
    Var(VarId),
    Imm(u64),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AluOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    And,
    Or,
    Xor,
    Shl,
    Shr,
}

/// The read-modify-write of an [`Inst::Atomic`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AtomicOp {
    Add,
    Or,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `lhs & rhs != 0`
    Set,
}

impl CmpOp {
    /// The comparison that holds when `self` does not.
    pub fn negate(self) -> Option<CmpOp> {
        Some(match self {
            CmpOp::Eq => CmpOp::Ne,
            CmpOp::Ne => CmpOp::Eq,
            CmpOp::Lt => CmpOp::Ge,
            CmpOp::Le => CmpOp::Gt,
            CmpOp::Gt => CmpOp::Le,
            CmpOp::Ge => CmpOp::Lt,
            CmpOp::Set => return None,
        })
    }

    /// The comparison with operands swapped (`a < b` is `b > a`).
    pub fn swap(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            other => other,
        }
    }

    /// Evaluate on constants.
    pub fn eval(self, lhs: u64, rhs: u64) -> bool {
        match self {
            CmpOp::Eq => lhs == rhs,
            CmpOp::Ne => lhs != rhs,
            CmpOp::Lt => lhs < rhs,
            CmpOp::Le => lhs <= rhs,
            CmpOp::Gt => lhs > rhs,
            CmpOp::Ge => lhs >= rhs,
            CmpOp::Set => lhs & rhs != 0,
        }
    }
}

/// A context field the program reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CtxField {
    Data,
    DataEnd,
    Ifindex,
    /// Only on TC (`__sk_buff.len`); XDP computes it from the pointers.
    Len,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Inst {
    /// `dst = value`
    Const { dst: VarId, value: u64 },
    /// `dst = src`
    Copy { dst: VarId, src: VarId },
    /// `dst = lhs op rhs`, computed modulo 2^64 when `width > 32` and modulo
    /// 2^32 otherwise. Results wider than the variable's type are cut by an
    /// explicit `Trunc`.
    Alu { op: AluOp, dst: VarId, lhs: VarId, rhs: Operand, width: u32 },
    /// `dst = src & (2^bits - 1)`
    Trunc { dst: VarId, src: VarId, bits: u32 },
    /// `dst = ctx->field`
    CtxLoad { dst: VarId, ctx: VarId, field: CtxField },
    /// `dst = end - ptr` (bytes left in the packet; with `end` a packet
    /// pointer, how far it is past `ptr`).
    PktRemaining { dst: VarId, ptr: VarId, end: VarId },
    /// `dst = ptr + off` on packet pointers or map value pointers.
    PtrAdd { dst: VarId, ptr: VarId, off: Operand },
    /// `dst = the big-endian bit field [bit_offset, bit_offset + width)` of
    /// the header at `ptr` (whose checked length is `hdr_len`). With `wire`
    /// the result is instead the field's load window exactly as on the wire,
    /// with the bits outside the field cleared; every use then works on
    /// constants converted to that form (see `opt::wire_order_compares`).
    LoadField { dst: VarId, ptr: VarId, hdr_len: u32, bit_offset: u32, width: u32, wire: bool },
    /// Write `src` into that bit field.
    StoreField { ptr: VarId, hdr_len: u32, bit_offset: u32, width: u32, src: Operand },
    /// `dst = the low `bytes` bytes of src, byte-reversed` (bytes 2, 4, 8).
    Bswap { dst: VarId, src: VarId, bytes: u32 },
    /// `*(uW *)(buf + off) = src` (W = `bytes` * 8, little-endian).
    BufStore { buf: BufId, off: u32, bytes: u32, src: Operand },
    /// `dst = *(uW *)(buf + off)`
    BufLoad { dst: VarId, buf: BufId, off: u32, bytes: u32 },
    /// `dst = bpf_map_lookup_elem(map, buf)` (a `MapValueOrNull`).
    MapLookup { dst: VarId, map: MapId, key: BufId },
    /// `dst = *(uW *)(ptr + off)` through a `MapValue`.
    MemLoad { dst: VarId, ptr: VarId, off: u32, bytes: u32 },
    /// `*(uW *)(ptr + off) = src` through a `MapValue`.
    MemStore { ptr: VarId, off: u32, bytes: u32, src: Operand },
    /// `lock *(uW *)(ptr + off) op= src` (W is 32 or 64; op is `+` or `|`).
    Atomic { op: AtomicOp, ptr: VarId, off: u32, bytes: u32, src: VarId },
    /// A helper call; `dst` receives its return value.
    Call { dst: Option<VarId>, call: Call },
    /// A spin lock helper or graph kfunc with pointer arguments.
    Kcall { dst: Option<VarId>, call: Kcall, args: Vec<VarId> },
    /// `dst = the address of buf` (a `StackPtr`).
    BufAddr { dst: VarId, buf: BufId },
    /// `dst = bpf_map_update_elem(map, key, value, flags)` with the value
    /// read from a map value (`MapValue`) instead of the stack: for values
    /// too large for the stack (a keyed HyperLogLog's fresh registers).
    MapUpdateFrom { dst: VarId, map: MapId, key: BufId, value: VarId, flags: u64 },
    /// `dst = helper(args...)`, arguments in r1-r5: the helpers that resize
    /// the packet (every packet pointer is stale after one of them).
    Helper { dst: Option<VarId>, helper: Helper, args: Vec<Operand> },
    /// `bpf_tail_call(ctx, map, index)`: jumps to the next stage of a split
    /// program and does not come back; when the slot is empty it falls
    /// through (the block then exits with the stage's fallback verdict).
    TailCall { ctx: VarId, map: MapId, index: u32 },
}

/// Helpers called through [`Inst::Helper`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Helper {
    /// `bpf_xdp_adjust_head(ctx, delta)`
    XdpAdjustHead,
    /// `bpf_skb_change_head(skb, len, flags)`
    SkbChangeHead,
    /// `bpf_skb_adjust_room(skb, len_diff, mode, flags)`
    SkbAdjustRoom,
    /// `bpf_skb_vlan_pop(skb)`
    SkbVlanPop,
}

impl Helper {
    /// The kernel's `enum bpf_func_id` value.
    pub fn id(self) -> i64 {
        match self {
            Helper::SkbVlanPop => 19,
            Helper::SkbChangeHead => 43,
            Helper::XdpAdjustHead => 44,
            Helper::SkbAdjustRoom => 50,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Helper::XdpAdjustHead => "xdp_adjust_head",
            Helper::SkbChangeHead => "skb_change_head",
            Helper::SkbAdjustRoom => "skb_adjust_room",
            Helper::SkbVlanPop => "skb_vlan_pop",
        }
    }
}

impl Inst {
    /// The variable this instruction writes, if any.
    pub fn def(&self) -> Option<VarId> {
        match self {
            Inst::Const { dst, .. }
            | Inst::Copy { dst, .. }
            | Inst::Alu { dst, .. }
            | Inst::Trunc { dst, .. }
            | Inst::CtxLoad { dst, .. }
            | Inst::PktRemaining { dst, .. }
            | Inst::PtrAdd { dst, .. }
            | Inst::LoadField { dst, .. }
            | Inst::BufLoad { dst, .. }
            | Inst::Bswap { dst, .. }
            | Inst::MapLookup { dst, .. }
            | Inst::MemLoad { dst, .. } => Some(*dst),
            Inst::Call { dst, .. } | Inst::Kcall { dst, .. } | Inst::Helper { dst, .. } => *dst,
            Inst::BufAddr { dst, .. } | Inst::MapUpdateFrom { dst, .. } => Some(*dst),
            Inst::StoreField { .. }
            | Inst::BufStore { .. }
            | Inst::MemStore { .. }
            | Inst::Atomic { .. }
            | Inst::TailCall { .. } => None,
        }
    }

    /// The variables this instruction reads.
    pub fn uses(&self) -> Vec<VarId> {
        let op = |o: &Operand| match o {
            Operand::Var(v) => Some(*v),
            Operand::Imm(_) => None,
        };
        match self {
            Inst::Const { .. } => vec![],
            Inst::Copy { src, .. } | Inst::Trunc { src, .. } | Inst::Bswap { src, .. } => vec![*src],
            Inst::Alu { lhs, rhs, .. } => std::iter::once(*lhs).chain(op(rhs)).collect(),
            Inst::CtxLoad { ctx, .. } => vec![*ctx],
            Inst::PktRemaining { ptr, end, .. } => vec![*ptr, *end],
            Inst::PtrAdd { ptr, off, .. } => std::iter::once(*ptr).chain(op(off)).collect(),
            Inst::LoadField { ptr, .. } => vec![*ptr],
            Inst::StoreField { ptr, src, .. } | Inst::MemStore { ptr, src, .. } => {
                std::iter::once(*ptr).chain(op(src)).collect()
            }
            Inst::BufStore { src, .. } => op(src).into_iter().collect(),
            Inst::BufLoad { .. } | Inst::MapLookup { .. } | Inst::Call { .. } => vec![],
            Inst::MemLoad { ptr, .. } => vec![*ptr],
            Inst::Atomic { ptr, src, .. } => vec![*ptr, *src],
            Inst::Kcall { args, .. } => args.clone(),
            Inst::Helper { args, .. } => args.iter().filter_map(op).collect(),
            Inst::BufAddr { .. } => vec![],
            Inst::MapUpdateFrom { value, .. } => vec![*value],
            Inst::TailCall { ctx, .. } => vec![*ctx],
        }
    }

    /// True if removing the instruction changes behaviour even when its
    /// result is unused.
    pub fn has_side_effect(&self) -> bool {
        matches!(
            self,
            Inst::StoreField { .. }
                | Inst::BufStore { .. }
                | Inst::MemStore { .. }
                | Inst::Atomic { .. }
                | Inst::Call { .. }
                | Inst::Kcall { .. }
                | Inst::Helper { .. }
                | Inst::MapUpdateFrom { .. }
                | Inst::TailCall { .. }
        )
    }

    /// True if the instruction reads a stack buffer (so stores to it before
    /// are needed).
    pub fn reads_buf(&self, b: BufId) -> bool {
        match self {
            Inst::BufLoad { buf, .. } => *buf == b,
            Inst::MapLookup { key, .. } | Inst::MapUpdateFrom { key, .. } => *key == b,
            Inst::Call { call, .. } => match call {
                Call::MapUpdate { key, value, .. } => *key == b || *value == b,
                Call::MapDelete { key, .. } => *key == b,
                Call::MapPush { value, .. } => *value == b,
                Call::MapPop { .. } | Call::MapPeek { .. } | Call::KtimeNs => false,
            },
            _ => false,
        }
    }
}

/// A load window: `len` bytes at byte offset `start` of a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: u32,
    pub len: u32,
}

/// The smallest single load (1, 2, 4 or 8 bytes) covering the field
/// `[bit_offset, bit_offset + width)` that stays inside a `hdr_len`-byte
/// header, if there is one.
pub fn window(hdr_len: u32, bit_offset: u32, width: u32) -> Option<Window> {
    let first = bit_offset / 8;
    let last = (bit_offset + width - 1) / 8;
    let needed = last - first + 1;
    let len = [1u32, 2, 4, 8].into_iter().find(|&l| l >= needed)?;
    if len > hdr_len {
        return None;
    }
    let start = if first + len <= hdr_len { first } else { hdr_len - len };
    Some(Window { start, len })
}

/// The wire form of a constant `c` compared with the field
/// `[bit_offset, bit_offset + width)` loaded through window `w`: shifted to
/// the field's place in the window and byte-swapped as the load sees it.
pub fn wire_const(w: Window, bit_offset: u32, width: u32, c: u64) -> u64 {
    let bits = w.len * 8;
    let below = bits - (bit_offset - w.start * 8) - width;
    let field_mask = if width >= 64 { u64::MAX } else { (1u64 << width) - 1 };
    let placed = (c & field_mask) << below;
    match w.len {
        1 => placed,
        2 => u64::from((placed as u16).swap_bytes()),
        4 => u64::from((placed as u32).swap_bytes()),
        _ => placed.swap_bytes(),
    }
}

/// The field's bits within its window, in wire form.
pub fn wire_mask(w: Window, bit_offset: u32, width: u32) -> u64 {
    wire_const(w, bit_offset, width, u64::MAX)
}

/// How a program ends.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Exit {
    /// Return this value (an XDP action or TC verdict code).
    Return(u32),
    /// `return bpf_redirect(ifindex, 0)`
    Redirect(Operand),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    Jump(BlockId),
    /// `if lhs op rhs { then } else { else_ }`; `width` is the operands'
    /// width (32 or less compares the low 32 bits).
    Branch { op: CmpOp, lhs: VarId, rhs: Operand, width: u32, then_bb: BlockId, else_bb: BlockId },
    /// `if ptr + len > end { fail } else { ok }`
    BoundsCheck { ptr: VarId, len: u32, end: VarId, ok: BlockId, fail: BlockId },
    Exit(Exit),
}

impl Term {
    pub fn successors(&self) -> Vec<BlockId> {
        match self {
            Term::Jump(b) => vec![*b],
            Term::Branch { then_bb, else_bb, .. } => vec![*then_bb, *else_bb],
            Term::BoundsCheck { ok, fail, .. } => vec![*ok, *fail],
            Term::Exit(_) => vec![],
        }
    }

    pub fn successors_mut(&mut self) -> Vec<&mut BlockId> {
        match self {
            Term::Jump(b) => vec![b],
            Term::Branch { then_bb, else_bb, .. } => vec![then_bb, else_bb],
            Term::BoundsCheck { ok, fail, .. } => vec![ok, fail],
            Term::Exit(_) => vec![],
        }
    }

    pub fn uses(&self) -> Vec<VarId> {
        match self {
            Term::Jump(_) => vec![],
            Term::Branch { lhs, rhs, .. } => match rhs {
                Operand::Var(v) => vec![*lhs, *v],
                Operand::Imm(_) => vec![*lhs],
            },
            Term::BoundsCheck { ptr, end, .. } => vec![*ptr, *end],
            Term::Exit(Exit::Redirect(Operand::Var(v))) => vec![*v],
            Term::Exit(_) => vec![],
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct BlockData {
    pub insts: Vec<Inst>,
    /// Source span of each instruction (parallel to `insts`).
    pub spans: Vec<Span>,
    pub term: Term,
    pub term_span: Span,
}

/// One eBPF program.
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    pub name: String,
    pub hook: Hook,
    pub vars: Vec<VarData>,
    pub blocks: Vec<BlockData>,
    pub entry: BlockId,
    /// The variable that holds the context pointer on entry (`r1`).
    pub ctx: VarId,
    /// Maps the program uses, indexed by `MapId`.
    pub maps: Vec<MapDef>,
    /// Stack buffers, indexed by `BufId`.
    pub bufs: Vec<BufData>,
}

impl Function {
    pub fn var(&self, v: VarId) -> &VarData {
        &self.vars[v.index()]
    }

    pub fn map(&self, m: MapId) -> &MapDef {
        &self.maps[m.index()]
    }

    pub fn block(&self, b: BlockId) -> &BlockData {
        &self.blocks[b.index()]
    }

    pub fn block_ids(&self) -> impl Iterator<Item = BlockId> + use<> {
        (0..self.blocks.len() as u32).map(BlockId)
    }

    /// Blocks reachable from the entry, in reverse post-order.
    pub fn reverse_postorder(&self) -> Vec<BlockId> {
        let mut seen = vec![false; self.blocks.len()];
        let mut order = Vec::new();
        // Iterative DFS with an explicit stack of (block, next successor).
        let mut stack: Vec<(BlockId, usize)> = vec![(self.entry, 0)];
        seen[self.entry.index()] = true;
        while let Some((b, i)) = stack.pop() {
            let succs = self.block(b).term.successors();
            if let Some(&s) = succs.get(i) {
                stack.push((b, i + 1));
                if !seen[s.index()] {
                    seen[s.index()] = true;
                    stack.push((s, 0));
                }
            } else {
                order.push(b);
            }
        }
        order.reverse();
        order
    }
}
