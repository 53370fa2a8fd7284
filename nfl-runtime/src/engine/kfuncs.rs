//! The kfuncs the engine provides, by the number [`super::image`] gives
//! each call (`KFUNC_BASE + index` at run time).

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

/// The engine's number for kfunc `name`.
pub fn index_of(name: &str) -> Option<u32> {
    KFUNCS.iter().position(|k| *k == name).map(|i| i as u32)
}

/// Run kfunc `index` (placeholder until the kfuncs land).
pub fn call(vm: &mut super::vm::Vm, index: u32, _args: [u64; 5], pc: u32) -> u64 {
    let name = KFUNCS.get(index as usize).copied().unwrap_or("?");
    vm.raise(pc, super::vm::FaultKind::Helper {
        id: super::vm::KFUNC_BASE + u64::from(index),
        message: format!("kfunc `{name}` is not provided yet"),
    });
    0
}

/// What kfuncs keep between calls and runs.
#[derive(Default)]
pub struct KState {}
