//! What an object needs beyond programs and plain maps for the "stock"
//! profile's kernel data structures: local struct types holding
//! `bpf_rb_node`/`bpf_rb_root`/`bpf_spin_lock` members (with `contains:`
//! declaration tags), map values of such types, subprograms (callbacks) in
//! `.text`, kfunc call sites with their `.ksyms` externs, and loads of a
//! local type id (`bpf_obj_new_impl`'s first argument).
//!
//! [`write_object_with`](super::write_object_with) takes an
//! [`ObjectExtras`]; [`write_object`](super::write_object) passes an empty
//! one and writes exactly the bytes it always wrote.

use super::kfunc::KernelStruct;
use super::{LineInfo, MapReloc};
use crate::bpf::Insn;

/// Additions to an [`super::ObjectSpec`]. Every `func` field names a
/// program or a subprogram; every `insn_idx` is an instruction index within
/// that function.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectExtras {
    /// Local struct types, written to program BTF in order.
    pub structs: Vec<StructSpec>,
    /// Maps whose value is one of `structs` (BTF `key`/`value` members, so
    /// that the map carries the value's BTF and the kernel finds its
    /// spin lock and graph roots).
    pub map_values: Vec<MapValue>,
    /// Static functions in `.text`, reached through [`FuncRef`]s.
    pub subprograms: Vec<SubprogramSpec>,
    pub kfunc_calls: Vec<KfuncCall>,
    pub func_refs: Vec<FuncRef>,
    pub type_id_loads: Vec<TypeIdLoad>,
}

impl ObjectExtras {
    pub fn is_empty(&self) -> bool {
        *self == ObjectExtras::default()
    }
}

/// `struct name { fields... }` with natural alignment, as C lays it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructSpec {
    /// A C identifier; the `contains:` tag names node structs by it.
    pub name: String,
    pub fields: Vec<FieldSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: String,
    pub ty: FieldType,
    /// For a `bpf_rb_root` or `bpf_list_head`: the node struct and its node
    /// field, written as the DECL_TAG `contains:<struct>:<field>`.
    pub contains: Option<Contains>,
}

impl FieldSpec {
    pub fn new(name: &str, ty: FieldType) -> FieldSpec {
        FieldSpec {
            name: name.to_string(),
            ty,
            contains: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    U32,
    U64,
    /// `__u64 name[n]`
    U64Array(u32),
    Kernel(KernelStruct),
}

impl FieldType {
    pub fn size(self) -> u32 {
        match self {
            FieldType::U32 => 4,
            FieldType::U64 => 8,
            FieldType::U64Array(n) => 8 * n,
            FieldType::Kernel(k) => k.size(),
        }
    }

    pub fn align(self) -> u32 {
        match self {
            FieldType::U32 => 4,
            FieldType::U64 | FieldType::U64Array(_) => 8,
            FieldType::Kernel(k) => k.align(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contains {
    pub node_struct: String,
    pub node_field: String,
}

/// Byte offsets of a struct's fields and its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructLayout {
    pub offsets: Vec<u32>,
    pub size: u32,
    pub align: u32,
}

impl StructSpec {
    /// C layout: each field at the next multiple of its alignment, the size
    /// rounded up to the largest alignment.
    pub fn layout(&self) -> StructLayout {
        let mut offsets = Vec::with_capacity(self.fields.len());
        let mut off = 0u32;
        let mut align = 1u32;
        for f in &self.fields {
            let a = f.ty.align();
            align = align.max(a);
            off = off.div_ceil(a) * a;
            offsets.push(off);
            off += f.ty.size();
        }
        StructLayout {
            offsets,
            size: off.div_ceil(align) * align,
            align,
        }
    }

    /// The byte offset of field `name`.
    pub fn offset_of(&self, name: &str) -> Option<u32> {
        let idx = self.fields.iter().position(|f| f.name == name)?;
        self.layout().offsets.get(idx).copied()
    }
}

/// The map `map` holds values of the local struct `value_struct`. Its key
/// must be 4 bytes (described as `int`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapValue {
    pub map: String,
    pub value_struct: String,
}

/// The prototype of a subprogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubprogKind {
    /// `bool less(struct bpf_rb_node *a, const struct bpf_rb_node *b)`,
    /// the callback of `bpf_rbtree_add_impl`.
    RbLess,
    /// `u64 f(u64 a0, ...)` with this many arguments (at most 5).
    Scalars(u8),
}

/// A static function in `.text` (a `STT_FUNC` LOCAL symbol with a
/// `.BTF.ext` func_info record), linked into each program that refers to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubprogramSpec {
    pub name: String,
    pub kind: SubprogKind,
    pub insns: Vec<Insn>,
    pub map_relocs: Vec<MapReloc>,
    /// If empty while some program has line info, one record naming the
    /// subprogram is written at its first instruction (the kernel wants
    /// line info at the start of every function once there is any).
    pub line_info: Vec<LineInfo>,
}

/// The call at `insn_idx` of `func` calls kfunc `kfunc` (one of
/// [`super::kfunc::KFUNCS`]). The writer emits it as
/// `call` with `src = BPF_PSEUDO_KFUNC_CALL`, `imm = -1`, and an
/// `R_BPF_64_32` relocation to the undefined symbol `kfunc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KfuncCall {
    pub func: String,
    pub insn_idx: usize,
    pub kfunc: String,
}

/// The instruction at `insn_idx` of `func` refers to subprogram `target`:
/// a `call` (bpf-to-bpf call, `R_BPF_64_32`) or an `LD_IMM64` loading its
/// address (`BPF_PSEUDO_FUNC`, `R_BPF_64_64`), e.g. a callback argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncRef {
    pub func: String,
    pub insn_idx: usize,
    pub target: String,
}

/// The `mov`/`LD_IMM64` at `insn_idx` of `func` gets the program-BTF type id
/// of local struct `struct_name` as its immediate (what clang's
/// `bpf_core_type_id_local` gives `bpf_obj_new_impl`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeIdLoad {
    pub func: String,
    pub insn_idx: usize,
    pub struct_name: String,
}
