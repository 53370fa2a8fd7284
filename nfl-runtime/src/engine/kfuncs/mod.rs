//! The kfuncs the engine provides, by the number [`super::image`] gives
//! each call (`KFUNC_BASE + index` at run time), with the kernel's
//! semantics: `objects` (`bpf_obj_new/drop`), `graph` (rbtree and list),
//! `iter` (`bpf_iter_num_*`) and `sketch` (kfunc-lib's module, through its
//! Rust twin).

mod graph;
mod iter;
mod objects;
mod sketch;

use super::vm::{FaultKind, KFUNC_BASE, Vm};

pub use objects::KState;

/// Every kfunc the engine knows, in numbering order.
pub const KFUNCS: &[&str] = &[
    "bpf_obj_new_impl",
    "bpf_obj_drop_impl",
    "bpf_rbtree_add_impl",
    "bpf_rbtree_first",
    "bpf_rbtree_remove",
    "bpf_list_push_front_impl",
    "bpf_list_push_back_impl",
    "bpf_list_pop_front",
    "bpf_list_pop_back",
    "bpf_iter_num_new",
    "bpf_iter_num_next",
    "bpf_iter_num_destroy",
    "nfl_cm_add",
    "nfl_cm_query",
    "nfl_cs_add",
    "nfl_bloom_add",
    "nfl_bloom_contains",
    "nfl_hll_add",
];

/// One kfunc: its arguments `r1..r5`, the call site; returns `r0`.
type Impl = fn(&mut Vm, [u64; 5], Site) -> u64;

/// The implementations, in [`KFUNCS`] order.
const IMPLS: [Impl; 18] = [
    objects::obj_new,
    objects::obj_drop,
    graph::rbtree_add,
    graph::rbtree_first,
    graph::rbtree_remove,
    graph::list_push_front,
    graph::list_push_back,
    graph::list_pop_front,
    graph::list_pop_back,
    iter::num_new,
    iter::num_next,
    iter::num_destroy,
    sketch::cm_add,
    sketch::cm_query,
    sketch::cs_add,
    sketch::bloom_add,
    sketch::bloom_contains,
    sketch::hll_add,
];

const _: () = assert!(KFUNCS.len() == IMPLS.len());

/// The engine's number for kfunc `name`.
pub fn index_of(name: &str) -> Option<u32> {
    KFUNCS.iter().position(|k| *k == name).map(|i| i as u32)
}

/// Run kfunc `index` (the call's id minus [`KFUNC_BASE`]) with `args`;
/// `pc` names the call. Misuse the kernel's verifier would have refused
/// (a pointer that is not what the kfunc takes) is a [`FaultKind::Helper`].
pub fn call(vm: &mut Vm, index: u32, args: [u64; 5], pc: u32) -> u64 {
    let site = Site { pc, index };
    match IMPLS.get(index as usize) {
        Some(f) => f(vm, args, site),
        None => site.fail(vm, format!("no kfunc number {index}")),
    }
}

/// Where a kfunc was called from, for its faults.
#[derive(Clone, Copy, Debug)]
struct Site {
    pc: u32,
    index: u32,
}

impl Site {
    /// Record a fault for this call; `0` for `r0`.
    fn fail(self, vm: &mut Vm, message: String) -> u64 {
        let name = KFUNCS.get(self.index as usize).copied().unwrap_or("kfunc");
        let id = KFUNC_BASE + u64::from(self.index);
        vm.raise(self.pc, FaultKind::Helper { id, message: format!("{name}: {message}") });
        0
    }
}

/// `-errno` as a kfunc's `int` result: the low 32 bits, zero-extended, as
/// the kernel's x86-64 JIT leaves `r0` after a call returning `int`.
fn neg_errno(errno: i32) -> u64 {
    u64::from(errno.wrapping_neg() as u32)
}

const EINVAL: i32 = 22;
const E2BIG: i32 = 7;
