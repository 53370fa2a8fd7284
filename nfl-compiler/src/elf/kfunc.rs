//! The kernel objects that program BTF names, and the prototypes of the
//! kfuncs our objects call.
//!
//! The verifier matches `bpf_spin_lock`, `bpf_rb_root`, `bpf_rb_node`,
//! `bpf_list_head` and `bpf_list_node` **by name and size** in program BTF,
//! so an object describes them as opaque structs of the kernel's size
//! (Linux 6.x: 4, 16, 32, 16 and 24 bytes). kfunc prototypes are written as
//! extern `FUNC`s in a `.ksyms` DATASEC, which libbpf checks against the
//! kernel's BTF (same number of parameters, same kinds), so they follow
//! the kernel's declarations; see `docs/kfuncs.md`.

/// A kernel-defined struct that program BTF refers to by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KernelStruct {
    SpinLock,
    RbRoot,
    RbNode,
    ListHead,
    ListNode,
    /// The open-coded numeric iterator's state (on the stack).
    IterNum,
}

impl KernelStruct {
    pub const ALL: [KernelStruct; 6] = [
        KernelStruct::SpinLock,
        KernelStruct::RbRoot,
        KernelStruct::RbNode,
        KernelStruct::ListHead,
        KernelStruct::ListNode,
        KernelStruct::IterNum,
    ];

    /// The struct's name, as the verifier matches it.
    pub fn name(self) -> &'static str {
        match self {
            KernelStruct::SpinLock => "bpf_spin_lock",
            KernelStruct::RbRoot => "bpf_rb_root",
            KernelStruct::RbNode => "bpf_rb_node",
            KernelStruct::ListHead => "bpf_list_head",
            KernelStruct::ListNode => "bpf_list_node",
            KernelStruct::IterNum => "bpf_iter_num",
        }
    }

    /// Size in bytes in Linux 6.x (`bpf_rb_node` was 24 before 6.4).
    pub fn size(self) -> u32 {
        match self {
            KernelStruct::SpinLock => 4,
            KernelStruct::RbRoot | KernelStruct::ListHead => 16,
            KernelStruct::RbNode => 32,
            KernelStruct::ListNode => 24,
            KernelStruct::IterNum => 8,
        }
    }

    /// Alignment the verifier checks for the field's offset.
    pub fn align(self) -> u32 {
        match self {
            KernelStruct::SpinLock => 4,
            _ => 8,
        }
    }
}

/// A type in a kfunc prototype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KType {
    Void,
    /// `int`
    Int,
    /// `u64` (`unsigned long long`)
    U64,
    /// `u32` (`unsigned int`)
    U32,
    /// `u32 *` (a counter array: a memory region with its `__sz`)
    U32Ptr,
    /// `u8 *` (a key: a memory region with its `__sz`)
    U8Ptr,
    /// `int *` (what `bpf_iter_num_next` returns)
    IntPtr,
    /// `void *`
    VoidPtr,
    /// `struct S *`
    Ptr(KernelStruct),
    /// `bool (*)(struct bpf_rb_node *, const struct bpf_rb_node *)`
    RbLess,
}

/// A kfunc prototype as the kernel declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KfuncProto {
    pub name: &'static str,
    pub ret: KType,
    pub params: &'static [(&'static str, KType)],
}

use KType::{Int, IntPtr, Ptr, RbLess, U8Ptr, U32, U32Ptr, U64, Void, VoidPtr};
use KernelStruct::{IterNum, ListHead, ListNode, RbNode, RbRoot};

/// The kfuncs an object may call (the "stock" profile's graph data
/// structures). Names and parameter names follow the kernel.
pub const KFUNCS: &[KfuncProto] = &[
    KfuncProto {
        name: "bpf_obj_new_impl",
        ret: VoidPtr,
        params: &[("local_type_id__k", U64), ("meta__ign", VoidPtr)],
    },
    KfuncProto {
        name: "bpf_obj_drop_impl",
        ret: Void,
        params: &[("p__alloc", VoidPtr), ("meta__ign", VoidPtr)],
    },
    KfuncProto {
        name: "bpf_rbtree_add_impl",
        ret: Int,
        params: &[
            ("root", Ptr(RbRoot)),
            ("node", Ptr(RbNode)),
            ("less", RbLess),
            ("meta__ign", VoidPtr),
            ("off", U64),
        ],
    },
    KfuncProto {
        name: "bpf_rbtree_first",
        ret: Ptr(RbNode),
        params: &[("root", Ptr(RbRoot))],
    },
    KfuncProto {
        name: "bpf_rbtree_remove",
        ret: Ptr(RbNode),
        params: &[("root", Ptr(RbRoot)), ("node", Ptr(RbNode))],
    },
    KfuncProto {
        name: "bpf_list_push_front_impl",
        ret: Int,
        params: &[
            ("head", Ptr(ListHead)),
            ("node", Ptr(ListNode)),
            ("meta__ign", VoidPtr),
            ("off", U64),
        ],
    },
    KfuncProto {
        name: "bpf_list_push_back_impl",
        ret: Int,
        params: &[
            ("head", Ptr(ListHead)),
            ("node", Ptr(ListNode)),
            ("meta__ign", VoidPtr),
            ("off", U64),
        ],
    },
    KfuncProto {
        name: "bpf_list_pop_front",
        ret: Ptr(ListNode),
        params: &[("head", Ptr(ListHead))],
    },
    KfuncProto {
        name: "bpf_list_pop_back",
        ret: Ptr(ListNode),
        params: &[("head", Ptr(ListHead))],
    },
    // The open-coded numeric iterator (Linux 6.4+): `for` loops too long
    // for a bounded loop under the stock profile.
    KfuncProto {
        name: "bpf_iter_num_new",
        ret: Int,
        params: &[("it", Ptr(IterNum)), ("start", Int), ("end", Int)],
    },
    KfuncProto { name: "bpf_iter_num_next", ret: IntPtr, params: &[("it", Ptr(IterNum))] },
    KfuncProto { name: "bpf_iter_num_destroy", ret: Void, params: &[("it", Ptr(IterNum))] },
    // kfunc-lib's module (`nfl_kfuncs`, docs/kfunc-lib.md): the enetstl
    // profile's fused sketch updates.
    KfuncProto { name: "nfl_cm_add", ret: Int, params: NFL_ADD },
    KfuncProto { name: "nfl_cm_query", ret: U32, params: NFL_READ },
    KfuncProto { name: "nfl_cs_add", ret: Int, params: NFL_ADD },
    KfuncProto { name: "nfl_bloom_add", ret: Int, params: NFL_READ },
    KfuncProto { name: "nfl_bloom_contains", ret: Int, params: NFL_READ },
    KfuncProto {
        name: "nfl_hll_add",
        ret: Int,
        params: &[("regs", U8Ptr), ("regs__sz", U32), ("key", U8Ptr), ("key__sz", U32)],
    },
];

const NFL_ADD: &[(&str, KType)] = &[("ctr", U32Ptr), ("ctr__sz", U32), ("key", U8Ptr), ("key__sz", U32), ("rows_n", U64)];
const NFL_READ: &[(&str, KType)] = &[("ctr", U32Ptr), ("ctr__sz", U32), ("key", U8Ptr), ("key__sz", U32), ("rows", U32)];

/// The prototype of kfunc `name`, if objects may call it.
pub fn kfunc_proto(name: &str) -> Option<&'static KfuncProto> {
    KFUNCS.iter().find(|k| k.name == name)
}

/// The ELF section whose DATASEC lists the kfunc externs (libbpf's name).
pub const KSYMS_SECTION: &str = ".ksyms";
