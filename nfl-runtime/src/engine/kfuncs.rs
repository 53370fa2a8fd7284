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

/// What kfuncs keep between calls and runs.
#[derive(Default)]
pub struct KState {}
