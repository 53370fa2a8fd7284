//! The userspace engine's kfuncs, driven through `engine::kfuncs::call` on
//! a bare `Vm` with memory the test exposes: kfunc-lib's sketches against
//! the Rust twin byte for byte, the rbtree against the `PQueue` oracle
//! (FIFO among equal keys, across runs), lists against a `VecDeque`, the
//! numeric iterator at the kernel's bounds, and bad pointers as faults.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};

use kfunc_lib::{Bloom, CountMin, CountSketch, Hll, PQueue, XorShift64Star};
use nfl_compiler::bpf::Insn;
use nfl_runtime::ProgramKind;
use nfl_runtime::engine::env::{Env, World};
use nfl_runtime::engine::kfuncs::{self, KFUNCS};
use nfl_runtime::engine::maps::MapSet;
use nfl_runtime::engine::vm::{ABORT_FAULT, ABORT_NONE, FaultKind, REGION_FUNC, Runner, Vm, frame_pointer, vaddr};

const EINVAL: u64 = (-22i32) as u32 as u64;
const E2BIG: u64 = (-7i32) as u32 as u64;

fn new_vm() -> Box<Vm> {
    Vm::new(Env::new(ProgramKind::Xdp, MapSet::default(), World::default()))
}

/// Host memory the test owns, exposed to the VM as one region.
struct Mem {
    bytes: Box<[u8]>,
    addr: u64,
}

impl Mem {
    fn new(vm: &mut Vm, len: usize) -> Mem {
        let mut bytes = vec![0u8; len].into_boxed_slice();
        let addr = vm.expose(bytes.as_mut_ptr(), len as u64);
        Mem { bytes, addr }
    }

    fn with(vm: &mut Vm, data: &[u8]) -> Mem {
        let mut m = Mem::new(vm, data.len());
        m.bytes.copy_from_slice(data);
        m
    }
}

fn call(vm: &mut Vm, name: &str, args: [u64; 5]) -> u64 {
    let index = kfuncs::index_of(name).unwrap_or_else(|| panic!("no kfunc {name}"));
    kfuncs::call(vm, index, args, 7)
}

/// Sketch kfunc `name` on all of `state`, with `key` and fifth argument `x`.
fn on_key(vm: &mut Vm, name: &str, state: &Mem, key: &[u8], x: u64) -> u64 {
    let km = Mem::with(vm, key);
    call(vm, name, [state.addr, state.bytes.len() as u64, km.addr, key.len() as u64, x])
}

fn assert_no_fault(vm: &Vm) {
    assert_eq!(vm.fault, None);
}

/// The fault the last call raised, cleared (regions stay) for the next.
fn take_fault(vm: &mut Vm) -> FaultKind {
    let f = vm.fault.take().expect("a fault");
    assert_eq!(f.pc, 7);
    assert_eq!(vm.ctx.abort, ABORT_FAULT);
    vm.ctx.abort = ABORT_NONE;
    f.kind
}

fn keys(rng: &mut XorShift64Star, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let len = [4, 8, 13, 16][i % 4];
            (0..len).map(|_| rng.next_u64() as u8).collect()
        })
        .collect()
}

// ---- kfunc-lib (enetstl) -------------------------------------------------

#[test]
fn count_min_equals_the_twin_byte_for_byte() {
    let mut vm = new_vm();
    let (rows, cols) = (3u32, 64u32);
    let mut twin = CountMin::new(rows, cols).unwrap();
    let state = Mem::new(&mut vm, twin.byte_len());
    let mut rng = XorShift64Star::new(11);
    let keys = keys(&mut rng, 200);
    for k in &keys {
        let n = rng.next_u64() as u32 >> (rng.next_u64() % 32);
        assert_eq!(on_key(&mut vm, "nfl_cm_add", &state, k, u64::from(rows) << 32 | u64::from(n)), 0);
        twin.add(k, n);
        assert_eq!(&state.bytes[..], &twin.to_bytes()[..]);
    }
    for k in &keys {
        assert_eq!(on_key(&mut vm, "nfl_cm_query", &state, k, u64::from(rows)), u64::from(twin.query(k)));
    }
    assert_no_fault(&vm);
}

#[test]
fn count_sketch_equals_the_twin_byte_for_byte() {
    let mut vm = new_vm();
    let (rows, cols) = (5u32, 32u32);
    let mut twin = CountSketch::new(rows, cols).unwrap();
    let state = Mem::new(&mut vm, (rows * cols * 4) as usize);
    let mut rng = XorShift64Star::new(12);
    for k in keys(&mut rng, 300) {
        let n = rng.next_u64() as u32;
        assert_eq!(on_key(&mut vm, "nfl_cs_add", &state, &k, u64::from(rows) << 32 | u64::from(n)), 0);
        twin.add(&k, n as i32);
        assert_eq!(&state.bytes[..], &twin.to_bytes()[..]);
    }
    assert_no_fault(&vm);
}

#[test]
fn bloom_equals_the_twin_byte_for_byte() {
    let mut vm = new_vm();
    let (m, k) = (1024u32, 3u32);
    let mut twin = Bloom::new(m, k).unwrap();
    let state = Mem::new(&mut vm, (m / 8) as usize);
    let mut rng = XorShift64Star::new(13);
    let all = keys(&mut rng, 400);
    let (added, others) = all.split_at(100);
    for key in added {
        assert_eq!(on_key(&mut vm, "nfl_bloom_add", &state, key, u64::from(k)), 0);
        twin.add(key);
        assert_eq!(&state.bytes[..], &twin.to_bytes()[..]);
    }
    let mut positives = 0;
    for key in added.iter().chain(others) {
        let got = on_key(&mut vm, "nfl_bloom_contains", &state, key, u64::from(k));
        assert_eq!(got, u64::from(twin.contains(key)));
        positives += got;
    }
    assert!((100..150).contains(&positives), "{positives} positives");
    // k = 0: the module's loop sets nothing and finds every key.
    let before = state.bytes.clone();
    assert_eq!(on_key(&mut vm, "nfl_bloom_add", &state, b"none", 0), 0);
    assert_eq!(state.bytes, before);
    assert_eq!(on_key(&mut vm, "nfl_bloom_contains", &state, b"none", 0), 1);
    assert_no_fault(&vm);
}

#[test]
fn hll_equals_the_twin_byte_for_byte() {
    let mut vm = new_vm();
    let mut rng = XorShift64Star::new(14);
    for p in [4u32, 10, 16] {
        let mut twin = Hll::new(p).unwrap();
        let regs = Mem::new(&mut vm, 1 << p);
        for k in keys(&mut rng, 500) {
            assert_eq!(on_key(&mut vm, "nfl_hll_add", &regs, &k, 0), 0);
            twin.add(&k);
        }
        assert_eq!(&regs.bytes[..], twin.registers());
    }
    assert_no_fault(&vm);
}

#[test]
fn sketch_shapes_the_module_refuses_give_einval_and_change_nothing() {
    let mut vm = new_vm();
    let state = Mem::new(&mut vm, 1 << 17);
    let key = Mem::with(&mut vm, b"abcd");
    let grid = |size: u64, x: u64| [state.addr, size, key.addr, 4, x];
    for (size, rows) in [(36, 3u64), (96, 0), (4 * 33, 33), (40, 2), (0, 1)] {
        assert_eq!(call(&mut vm, "nfl_cm_add", grid(size, rows << 32 | 1)), EINVAL, "{size} {rows}");
        assert_eq!(call(&mut vm, "nfl_cs_add", grid(size, rows << 32 | 1)), EINVAL, "{size} {rows}");
        assert_eq!(call(&mut vm, "nfl_cm_query", grid(size, rows)), 0);
    }
    for size in [0u64, 2, 12, 24, 100] {
        assert_eq!(call(&mut vm, "nfl_bloom_add", grid(size, 3)), EINVAL, "{size}");
        assert_eq!(call(&mut vm, "nfl_bloom_contains", grid(size, 3)), EINVAL, "{size}");
    }
    for size in [0u64, 8, 24, 1 << 17] {
        assert_eq!(call(&mut vm, "nfl_hll_add", grid(size, 0)), EINVAL, "{size}");
    }
    assert!(state.bytes.iter().all(|&b| b == 0));
    // The edges that are accepted: 32 rows, 4-byte Bloom, 2^4 registers.
    assert_eq!(call(&mut vm, "nfl_cm_add", grid(4 * 32, 32 << 32 | 1)), 0);
    assert_eq!(call(&mut vm, "nfl_bloom_add", grid(4, 1)), 0);
    assert_eq!(call(&mut vm, "nfl_hll_add", grid(16, 0)), 0);
    assert_no_fault(&vm);
}

#[test]
fn sketch_memory_outside_the_regions_is_a_fault() {
    let mut vm = new_vm();
    let state = Mem::new(&mut vm, 64);
    let key = Mem::with(&mut vm, b"abcdefgh");
    let bad = [
        // state larger than its region
        [state.addr, 128, key.addr, 8, 1 << 32 | 1],
        // key beyond its region
        [state.addr, 64, key.addr + 4, 8, 1 << 32 | 1],
        // null state
        [0, 64, key.addr, 8, 1 << 32 | 1],
        // an address in no region
        [vaddr(9999, 0), 64, key.addr, 8, 1 << 32 | 1],
    ];
    for args in bad {
        for name in ["nfl_cm_add", "nfl_cs_add", "nfl_cm_query", "nfl_bloom_add", "nfl_bloom_contains", "nfl_hll_add"] {
            assert_eq!(call(&mut vm, name, args), 0);
            assert!(matches!(take_fault(&mut vm), FaultKind::OutOfBounds { .. }), "{name} {args:x?}");
        }
    }
    assert!(state.bytes.iter().all(|&b| b == 0));
}

// ---- objects, rbtree, lists (stock) ---------------------------------------

/// `struct node { u64 rank; u64 seq; u64 value; struct bpf_rb_node node; }`,
/// as nflc's `nfl_pq_node`; the type id the tests give it.
const NODE_TYPE: u32 = 7;
const NODE_OFF: u64 = 24;
const NODE_SIZE: u32 = 56;
/// `struct item { u64 value; struct bpf_list_node node; }`.
const ITEM_TYPE: u32 = 9;
const ITEM_OFF: u64 = 8;

fn graph_vm() -> Box<Vm> {
    let mut vm = new_vm();
    vm.env.kstate.set_types(HashMap::from([(NODE_TYPE, NODE_SIZE), (ITEM_TYPE, 32)]));
    vm
}

/// The `less` callback, natively: `a.rank < b.rank` on the node pointers
/// (fields at negative offsets); counts its calls.
struct RankLess {
    calls: Cell<u32>,
}

/// Where the test says its callback is.
const LESS_AT: u32 = 40;

impl Runner for RankLess {
    unsafe fn call(&self, vm: *mut Vm, target: u32, _depth: u32, args: [u64; 5]) -> u64 {
        assert_eq!(target, LESS_AT);
        self.calls.set(self.calls.get() + 1);
        // SAFETY: the engine's promise: `vm` is live and ours meanwhile.
        let vm = unsafe { &mut *vm };
        let a = vm.load(0, args[0] - NODE_OFF, 8);
        let b = vm.load(0, args[1] - NODE_OFF, 8);
        u64::from(a < b)
    }
}

fn with_less(vm: &mut Vm, less: &'static RankLess) {
    vm.runner = Some(less as *const dyn Runner);
    vm.code_len = 100;
}

fn leak_less() -> &'static RankLess {
    Box::leak(Box::new(RankLess { calls: Cell::new(0) }))
}

/// A new node with `rank` and `value`; its `bpf_rb_node` pointer.
fn new_node(vm: &mut Vm, rank: u64, value: u64) -> u64 {
    let obj = call(vm, "bpf_obj_new_impl", [u64::from(NODE_TYPE), 0, 0, 0, 0]);
    assert_ne!(obj, 0);
    for off in 0..NODE_SIZE / 8 {
        assert_eq!(vm.load(0, obj + u64::from(off) * 8, 8), 0, "bpf_obj_new zeroes");
    }
    vm.store(0, obj, 8, rank);
    vm.store(0, obj + 16, 8, value);
    obj + NODE_OFF
}

fn add(vm: &mut Vm, root: u64, node: u64) -> u64 {
    call(vm, "bpf_rbtree_add_impl", [root, node, vaddr(REGION_FUNC, LESS_AT), 0, 0])
}

/// first + remove + read + drop, as nflc's `pop_min`: `(rank, value)`.
fn pop_min(vm: &mut Vm, root: u64) -> Option<(u64, u64)> {
    let first = call(vm, "bpf_rbtree_first", [root, 0, 0, 0, 0]);
    if first == 0 {
        return None;
    }
    let node = call(vm, "bpf_rbtree_remove", [root, first, 0, 0, 0]);
    assert_eq!(node, first);
    let obj = node - NODE_OFF;
    let got = (vm.load(0, obj, 8), vm.load(0, obj + 16, 8));
    call(vm, "bpf_obj_drop_impl", [obj, 0, 0, 0, 0]);
    Some(got)
}

#[test]
fn rbtree_orders_as_the_kernel_fifo_among_equal_keys_across_runs() {
    let mut vm = graph_vm();
    let less = leak_less();
    let value = Mem::new(&mut vm, 32);
    let mut oracle = PQueue::new();
    let mut rng = XorShift64Star::new(21);
    for round in 0..20u64 {
        // Each round is a run: regions are forgotten, the tree stays.
        vm.begin_run();
        let value_addr = vm.expose(value.bytes.as_ptr().cast_mut(), 32);
        let root = value_addr + 16;
        with_less(&mut vm, less);
        for i in 0..(rng.next_u64() % 40) {
            let rank = rng.next_u64() % 8;
            let node = new_node(&mut vm, rank, round << 16 | i);
            assert_eq!(add(&mut vm, root, node), 0);
            oracle.push(rank, round << 16 | i);
        }
        for _ in 0..(rng.next_u64() % 30) {
            assert_eq!(pop_min(&mut vm, root), oracle.pop_min());
        }
        assert_no_fault(&vm);
    }
    assert!(less.calls.get() > 0);
    vm.begin_run();
    let root = vm.expose(value.bytes.as_ptr().cast_mut(), 32) + 16;
    with_less(&mut vm, less);
    while let Some(want) = oracle.pop_min() {
        assert_eq!(pop_min(&mut vm, root), Some(want));
    }
    assert_eq!(pop_min(&mut vm, root), None);
    assert_eq!(vm.env.kstate.live_objects(), 0);
    assert_no_fault(&vm);
}

#[test]
fn rbtree_add_calls_less_a_logarithmic_number_of_times() {
    let mut vm = graph_vm();
    let less = leak_less();
    with_less(&mut vm, less);
    let value = Mem::new(&mut vm, 16);
    for i in 0..1024u64 {
        let node = new_node(&mut vm, i, i);
        assert_eq!(add(&mut vm, value.addr, node), 0);
    }
    // At most ceil(log2(1025)) = 11 comparisons per add, as a balanced
    // tree's walk.
    assert!(less.calls.get() <= 1024 * 11, "{} calls", less.calls.get());
    // Ascending inserts: the new node is never less, so it goes last.
    for i in 0..1024u64 {
        assert_eq!(pop_min(&mut vm, value.addr), Some((i, i)));
    }
    assert_no_fault(&vm);
}

#[test]
fn rbtree_refuses_nodes_it_does_not_own_and_nodes_owned_twice() {
    let mut vm = graph_vm();
    with_less(&mut vm, leak_less());
    let value = Mem::new(&mut vm, 32);
    let (root_a, root_b) = (value.addr, value.addr + 16);
    assert_eq!(call(&mut vm, "bpf_rbtree_first", [root_a, 0, 0, 0, 0]), 0);
    let n1 = new_node(&mut vm, 1, 1);
    let n2 = new_node(&mut vm, 2, 2);
    assert_eq!(add(&mut vm, root_a, n1), 0);
    // Already in a tree: -EINVAL, the tree unchanged.
    assert_eq!(add(&mut vm, root_b, n1), EINVAL);
    assert_eq!(call(&mut vm, "bpf_rbtree_first", [root_b, 0, 0, 0, 0]), 0);
    // Not in this tree / in no tree: NULL.
    assert_eq!(call(&mut vm, "bpf_rbtree_remove", [root_b, n1, 0, 0, 0]), 0);
    assert_eq!(call(&mut vm, "bpf_rbtree_remove", [root_a, n2, 0, 0, 0]), 0);
    assert_eq!(call(&mut vm, "bpf_rbtree_first", [root_a, 0, 0, 0, 0]), n1);
    assert_eq!(call(&mut vm, "bpf_rbtree_remove", [root_a, n1, 0, 0, 0]), n1);
    assert_eq!(call(&mut vm, "bpf_rbtree_remove", [root_a, n1, 0, 0, 0]), 0);
    for n in [n1, n2] {
        call(&mut vm, "bpf_obj_drop_impl", [n - NODE_OFF, 0, 0, 0, 0]);
    }
    assert_eq!(vm.env.kstate.live_objects(), 0);
    assert_no_fault(&vm);
}

#[test]
fn objects_are_zeroed_bounded_and_gone_after_drop() {
    let mut vm = graph_vm();
    let obj = call(&mut vm, "bpf_obj_new_impl", [u64::from(NODE_TYPE), 0, 0, 0, 0]);
    vm.store(0, obj + 48, 8, u64::MAX);
    assert_no_fault(&vm);
    vm.load(7, obj + 52, 8);
    assert!(matches!(take_fault(&mut vm), FaultKind::OutOfBounds { .. }));
    let obj = call(&mut vm, "bpf_obj_new_impl", [u64::from(NODE_TYPE), 0, 0, 0, 0]);
    assert_eq!(vm.env.kstate.live_objects(), 2);
    assert_eq!(call(&mut vm, "bpf_obj_drop_impl", [obj, 0, 0, 0, 0]), 0);
    assert_eq!(vm.env.kstate.live_objects(), 1);
    vm.load(7, obj, 8);
    assert!(matches!(take_fault(&mut vm), FaultKind::OutOfBounds { .. }), "a dropped object's region is closed");
    // A type the program's BTF does not have.
    assert_eq!(call(&mut vm, "bpf_obj_new_impl", [12345, 0, 0, 0, 0]), 0);
    assert!(matches!(take_fault(&mut vm), FaultKind::Helper { .. }));
}

#[test]
fn bad_graph_pointers_are_faults() {
    let mut vm = graph_vm();
    with_less(&mut vm, leak_less());
    let value = Mem::new(&mut vm, 16);
    let other = Mem::new(&mut vm, 64);
    let node = new_node(&mut vm, 1, 1);
    let cases: [(&str, [u64; 5]); 7] = [
        ("bpf_obj_drop_impl", [other.addr, 0, 0, 0, 0]),
        ("bpf_obj_drop_impl", [node, 0, 0, 0, 0]),
        ("bpf_rbtree_add_impl", [value.addr, other.addr, vaddr(REGION_FUNC, LESS_AT), 0, 0]),
        ("bpf_rbtree_add_impl", [value.addr, node + 8, vaddr(REGION_FUNC, LESS_AT), 0, 0]),
        ("bpf_rbtree_first", [value.addr + 8, 0, 0, 0, 0]),
        ("bpf_list_push_back_impl", [0, node, 0, 0, 0]),
        ("bpf_rbtree_remove", [value.addr, 0, 0, 0, 0]),
    ];
    for (name, args) in cases {
        assert_eq!(call(&mut vm, name, args), 0, "{name}");
        let kind = take_fault(&mut vm);
        assert!(matches!(kind, FaultKind::Helper { .. } | FaultKind::OutOfBounds { .. }), "{name}: {kind:?}");
    }
    // A `less` that is not a function of the program.
    assert_eq!(add(&mut vm, value.addr, node), 0);
    vm.code_len = 0;
    let second = new_node(&mut vm, 2, 2);
    assert_eq!(add(&mut vm, value.addr, second), 0);
    assert!(matches!(take_fault(&mut vm), FaultKind::Helper { .. }));
    // An unknown kfunc number.
    assert_eq!(kfuncs::call(&mut vm, KFUNCS.len() as u32, [0; 5], 7), 0);
    assert!(matches!(take_fault(&mut vm), FaultKind::Helper { .. }));
}

#[test]
fn lists_push_and_pop_at_both_ends() {
    let mut vm = graph_vm();
    let head = Mem::new(&mut vm, 16);
    let mut oracle = VecDeque::new();
    let mut rng = XorShift64Star::new(31);
    for i in 0..500u64 {
        match rng.next_u64() % 4 {
            op @ (0 | 1) => {
                let obj = call(&mut vm, "bpf_obj_new_impl", [u64::from(ITEM_TYPE), 0, 0, 0, 0]);
                vm.store(0, obj, 8, i);
                let name = if op == 0 { "bpf_list_push_front_impl" } else { "bpf_list_push_back_impl" };
                assert_eq!(call(&mut vm, name, [head.addr, obj + ITEM_OFF, 0, 0, 0]), 0);
                // In a list already.
                assert_eq!(call(&mut vm, name, [head.addr, obj + ITEM_OFF, 0, 0, 0]), EINVAL);
                if op == 0 { oracle.push_front(i) } else { oracle.push_back(i) }
            }
            op => {
                let name = if op == 2 { "bpf_list_pop_front" } else { "bpf_list_pop_back" };
                let node = call(&mut vm, name, [head.addr, 0, 0, 0, 0]);
                let want = if op == 2 { oracle.pop_front() } else { oracle.pop_back() };
                let got = (node != 0).then(|| vm.load(0, node - ITEM_OFF, 8));
                assert_eq!(got, want);
                if node != 0 {
                    call(&mut vm, "bpf_obj_drop_impl", [node - ITEM_OFF, 0, 0, 0, 0]);
                }
            }
        }
    }
    assert_eq!(vm.env.kstate.live_objects(), oracle.len());
    assert_no_fault(&vm);
}

#[test]
fn release_frees_the_collections_in_a_map_value() {
    let mut vm = graph_vm();
    with_less(&mut vm, leak_less());
    let value = Mem::new(&mut vm, 64);
    for i in 0..10 {
        let node = new_node(&mut vm, i, i);
        assert_eq!(add(&mut vm, value.addr + 16, node), 0);
        let item = call(&mut vm, "bpf_obj_new_impl", [u64::from(ITEM_TYPE), 0, 0, 0, 0]);
        assert_eq!(call(&mut vm, "bpf_list_push_back_impl", [value.addr + 32, item + ITEM_OFF, 0, 0, 0]), 0);
    }
    assert_eq!(vm.env.kstate.live_objects(), 20);
    let other = Mem::new(&mut vm, 16);
    vm.env.kstate.release(other.bytes.as_ptr(), 16);
    assert_eq!(vm.env.kstate.live_objects(), 20);
    vm.env.kstate.release(value.bytes.as_ptr(), 64);
    assert_eq!(vm.env.kstate.live_objects(), 0);
    assert_eq!(call(&mut vm, "bpf_rbtree_first", [value.addr + 16, 0, 0, 0, 0]), 0);
    assert_no_fault(&vm);
}

// ---- bpf_iter_num ----------------------------------------------------------

/// The iterator's 8 bytes at the bottom of frame 0, as a program keeps it.
fn iter_at() -> u64 {
    frame_pointer(0) - 8
}

/// Every number the iterator yields (at most `cap`), read through the
/// returned pointer.
fn drain(vm: &mut Vm, cap: usize) -> Vec<i32> {
    let mut out = Vec::new();
    while out.len() < cap {
        let p = call(vm, "bpf_iter_num_next", [iter_at(), 0, 0, 0, 0]);
        if p == 0 {
            break;
        }
        assert_eq!(p, iter_at(), "next points at the iterator's `cur`");
        out.push(vm.load(0, p, 4) as u32 as i32);
    }
    out
}

fn iter_new(vm: &mut Vm, start: i32, end: i32) -> u64 {
    // Registers carry ints sign-extended, as the verifier leaves them.
    call(vm, "bpf_iter_num_new", [iter_at(), start as i64 as u64, end as i64 as u64, 0, 0])
}

#[test]
fn iter_num_yields_start_to_end_then_null_for_good() {
    let mut vm = new_vm();
    assert_eq!(iter_new(&mut vm, -2, 3), 0);
    assert_eq!(drain(&mut vm, 100), vec![-2, -1, 0, 1, 2]);
    assert_eq!(call(&mut vm, "bpf_iter_num_next", [iter_at(), 0, 0, 0, 0]), 0);
    assert_eq!(iter_new(&mut vm, 5, 5), 0);
    assert_eq!(drain(&mut vm, 100), Vec::<i32>::new());
    assert_eq!(iter_new(&mut vm, i32::MIN, i32::MIN + 3), 0);
    assert_eq!(drain(&mut vm, 100), vec![i32::MIN, i32::MIN + 1, i32::MIN + 2]);
    assert_eq!(iter_new(&mut vm, i32::MAX - 2, i32::MAX), 0);
    assert_eq!(drain(&mut vm, 100), vec![i32::MAX - 2, i32::MAX - 1]);
    // destroy leaves it empty.
    assert_eq!(iter_new(&mut vm, 0, 10), 0);
    assert_eq!(drain(&mut vm, 3), vec![0, 1, 2]);
    call(&mut vm, "bpf_iter_num_destroy", [iter_at(), 0, 0, 0, 0]);
    assert_eq!(vm.load(0, iter_at(), 8), 0);
    assert_eq!(drain(&mut vm, 100), Vec::<i32>::new());
    assert_no_fault(&vm);
}

#[test]
fn iter_num_refuses_reversed_and_too_long_ranges() {
    let mut vm = new_vm();
    const MAX_LOOPS: i32 = 8 * 1024 * 1024;
    assert_eq!(iter_new(&mut vm, 6, 5), EINVAL);
    assert_eq!(drain(&mut vm, 10), Vec::<i32>::new());
    assert_eq!(iter_new(&mut vm, -1, MAX_LOOPS), E2BIG);
    assert_eq!(drain(&mut vm, 10), Vec::<i32>::new());
    assert_eq!(iter_new(&mut vm, i32::MIN, i32::MAX), E2BIG);
    assert_eq!(iter_new(&mut vm, 0, MAX_LOOPS), 0);
    assert_eq!(drain(&mut vm, 2), vec![0, 1]);
    assert_eq!(iter_new(&mut vm, i32::MAX - MAX_LOOPS, i32::MAX), 0);
    assert_eq!(drain(&mut vm, 1), vec![i32::MAX - MAX_LOOPS]);
    assert_no_fault(&vm);
}

#[test]
fn iter_num_outside_memory_is_a_fault() {
    let mut vm = new_vm();
    for it in [0, frame_pointer(0) - 4, vaddr(9999, 0)] {
        for name in ["bpf_iter_num_new", "bpf_iter_num_next", "bpf_iter_num_destroy"] {
            assert_eq!(call(&mut vm, name, [it, 0, 3, 0, 0]), 0);
            assert!(matches!(take_fault(&mut vm), FaultKind::OutOfBounds { .. }), "{name} {it:#x}");
        }
    }
}

// ---- nflc's own stock pqueue: BTF sizes and its `less` ----------------------

/// The code of nflc's `--target stock` build of a pqueue program, linked.
fn stock_pqueue() -> nfl_runtime::engine::image::Image {
    let src = "queue prio: pqueue(size = 8) of u32\n\
               control c(xdp) {\n    if !prio.push(7, 9) { drop }\n    let v = prio.pop_min() else { drop }\n    pass\n}\n";
    let target = nfl_compiler::target::Target::Stock;
    let build = nfl_compiler::driver::build_for("pq.nf", src, &mut nfl_compiler::frontend::NoModules, None, target)
        .unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    nfl_runtime::engine::image::read(&build.object).expect("image")
}

/// The value of the `LD_IMM64` into `reg` closest before each call of kfunc
/// `name` (how nflc passes the type id and the callback).
fn wide_before_calls(code: &[Insn], name: &str, reg: u8) -> Vec<u64> {
    let index = kfuncs::index_of(name).unwrap() as i32;
    let calls = (0..code.len()).filter(|&i| code[i].code == 0x85 && code[i].src == 2 && code[i].imm == index);
    calls
        .map(|at| {
            let i = (0..at).rev().find(|&i| code[i].code == 0x18 && code[i].dst == reg).expect("an LD_IMM64 before the call");
            u64::from(code[i].imm as u32) | u64::from(code[i + 1].imm as u32) << 32
        })
        .collect()
}

#[test]
fn the_image_sizes_the_objects_a_stock_pqueue_allocates() {
    let image = stock_pqueue();
    let ids = wide_before_calls(&image.programs[0].insns, "bpf_obj_new_impl", 1);
    assert!(!ids.is_empty());
    for id in ids {
        let size = image.type_sizes.get(&(id as u32));
        assert_eq!(size, Some(&56), "nfl_pq_node is rank, seq, value and a 32-byte bpf_rb_node");
    }
}

/// Just enough of an eBPF interpreter for nflc's `nfl_pq_less`: 64-bit
/// loads, immediate moves, unsigned compare-and-jump, exit.
struct Interp(Vec<Insn>);

impl Runner for Interp {
    unsafe fn call(&self, vm: *mut Vm, target: u32, _depth: u32, args: [u64; 5]) -> u64 {
        // SAFETY: the engine's promise: `vm` is live and ours meanwhile.
        let vm = unsafe { &mut *vm };
        let mut r = [0u64; 11];
        r[1..6].copy_from_slice(&args);
        let mut pc = target as usize;
        loop {
            let i = self.0[pc];
            let (d, s) = (usize::from(i.dst), usize::from(i.src));
            let jump = match i.code {
                0x79 => {
                    r[d] = vm.load(0, r[s].wrapping_add(i.off as i64 as u64), 8);
                    false
                }
                0xb7 => {
                    r[d] = i.imm as i64 as u64;
                    false
                }
                0xad => r[d] < r[s],
                0x2d => r[d] > r[s],
                0x95 => return r[0],
                other => panic!("the test's interpreter lacks opcode {other:#x} at {pc}"),
            };
            pc = if jump { (pc as i64 + 1 + i64::from(i.off)) as usize } else { pc + 1 };
        }
    }
}

#[test]
fn nflcs_own_less_orders_its_nodes_by_rank_then_seq() {
    let image = stock_pqueue();
    let code = image.programs[0].insns.clone();
    let ty = wide_before_calls(&code, "bpf_obj_new_impl", 1)[0];
    let less = wide_before_calls(&code, "bpf_rbtree_add_impl", 3)[0];
    assert_eq!(less >> 32, u64::from(REGION_FUNC), "the callback is a function address");
    let mut vm = new_vm();
    vm.env.kstate.set_types(image.type_sizes.clone());
    vm.code_len = code.len() as u32;
    let interp: &'static Interp = Box::leak(Box::new(Interp(code)));
    vm.runner = Some(interp as *const dyn Runner);
    let value = Mem::new(&mut vm, 32);
    let root = value.addr + 16;
    let mut oracle = PQueue::new();
    let mut rng = XorShift64Star::new(41);
    for seq in 0..300u64 {
        let rank = rng.next_u64() % 16;
        // As nflc's push: rank at 0, seq at 8, value at 16, node at 24.
        let obj = call(&mut vm, "bpf_obj_new_impl", [ty, 0, 0, 0, 0]);
        for (off, v) in [(0, rank), (8, seq), (16, seq * 3)] {
            vm.store(0, obj + off, 8, v);
        }
        assert_eq!(call(&mut vm, "bpf_rbtree_add_impl", [root, obj + NODE_OFF, less, 0, 0]), 0);
        oracle.push(rank, seq * 3);
        if rng.next_u64().is_multiple_of(3) {
            assert_eq!(pop_min(&mut vm, root), oracle.pop_min());
        }
    }
    while let Some(want) = oracle.pop_min() {
        assert_eq!(pop_min(&mut vm, root), Some(want));
    }
    assert_eq!(vm.env.kstate.live_objects(), 0);
    assert_no_fault(&vm);
}
