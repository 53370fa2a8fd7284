//! Allocated objects (`bpf_obj_new_impl`, `bpf_obj_drop_impl`) and the
//! state every graph kfunc shares.
//!
//! An object is a zeroed, 8-byte aligned heap block that never moves, so
//! its host address is its identity across runs. The program sees it
//! through a region over the whole object, made afresh in each run it is
//! handed out in (regions do not outlive a run); a pointer to a field is
//! that region at the field's offset, as the kernel hands out
//! `bpf_rb_node *` and programs subtract the node's offset (`container_of`).

use std::collections::{HashMap, VecDeque};

use super::Site;
use crate::engine::vm::{Region, Vm, offset_of, region_of, vaddr};

/// An object in a collection: its host address and the offset of the
/// node field that links it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Node {
    pub obj: usize,
    pub off: u32,
}

pub(super) struct Object {
    /// The object's bytes, owned here; programs reach them through regions.
    _mem: Box<[u64]>,
    size: u32,
    /// The host address of the `bpf_rb_root`/`bpf_list_head` holding it.
    pub owner: Option<usize>,
}

/// What kfuncs keep between calls and runs: the objects programs
/// allocated and the rbtrees and lists they sit in, keyed by the host
/// address of the `bpf_rb_root`/`bpf_list_head` (map value memory does not
/// move).
#[derive(Default)]
pub struct KState {
    /// BTF type id → size of the program's own structs (`bpf_obj_new`'s
    /// `local_type_id`).
    types: HashMap<u32, u32>,
    pub(super) objects: HashMap<usize, Object>,
    /// Each tree in order, leftmost first (a deque: `pop_min` is the
    /// common removal).
    pub(super) trees: HashMap<usize, VecDeque<Node>>,
    pub(super) lists: HashMap<usize, VecDeque<Node>>,
}

impl KState {
    /// The program's struct sizes by BTF type id ([`crate::engine::image::Image::type_sizes`]).
    pub fn set_types(&mut self, types: HashMap<u32, u32>) {
        self.types = types;
    }

    /// Objects alive: allocated and neither dropped nor freed with their
    /// collection.
    pub fn live_objects(&self) -> usize {
        self.objects.len()
    }

    /// Free every rbtree and list whose root lies in host memory
    /// `[base, base + len)`, with the objects in them: what the kernel's
    /// `bpf_obj_free_fields` does when a map value holding them is deleted
    /// or overwritten.
    pub fn release(&mut self, base: *const u8, len: usize) {
        if self.trees.is_empty() && self.lists.is_empty() {
            return;
        }
        let range = base as usize..(base as usize).saturating_add(len);
        let trees: Vec<usize> = self.trees.keys().copied().filter(|k| range.contains(k)).collect();
        let lists: Vec<usize> = self.lists.keys().copied().filter(|k| range.contains(k)).collect();
        let nodes: Vec<Node> = trees
            .iter()
            .filter_map(|k| self.trees.remove(k))
            .flatten()
            .chain(lists.iter().filter_map(|k| self.lists.remove(k)).flatten())
            .collect();
        for n in nodes {
            self.objects.remove(&n.obj);
        }
    }

    pub(super) fn size_of(&self, obj: usize) -> Option<u32> {
        self.objects.get(&obj).map(|o| o.size)
    }
}

/// A region over object `obj` (alive) and the address of offset `off` in it.
pub(super) fn expose(vm: &mut Vm, obj: usize, off: u32) -> u64 {
    let size = vm.env.kstate.size_of(obj).unwrap_or(0);
    let base = obj as *mut u8;
    let id = vm.regions.add(base, u64::from(size));
    // The row may be one a drop emptied in this run, for memory since
    // reused: make it whole.
    vm.regions.set(id, Region { base, lo: 0, hi: u64::from(size) });
    vm.sync();
    vaddr(id, off)
}

/// The live object `addr` points into and the offset it points at, or a
/// fault naming `what`.
pub(super) fn resolve(vm: &mut Vm, site: Site, addr: u64, what: &str) -> Option<(usize, u32)> {
    let base = vm.regions.get(region_of(addr)).map_or(0, |r| r.base as usize);
    let off = offset_of(addr);
    match vm.env.kstate.size_of(base) {
        Some(size) if off < size.max(1) => Some((base, off)),
        _ => {
            site.fail(vm, format!("{what} {addr:#x} is not in an object of bpf_obj_new"));
            None
        }
    }
}

/// `void *bpf_obj_new_impl(u64 local_type_id, void *meta)`: a zeroed
/// object of the program's BTF type; `NULL` never (the engine does not run
/// out of memory).
pub(super) fn obj_new(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    let Some(&size) = u32::try_from(args[0]).ok().and_then(|id| vm.env.kstate.types.get(&id)) else {
        return site.fail(vm, format!("type id {} is not a struct of the program's BTF", args[0]));
    };
    let words = (size as usize).div_ceil(8).max(1);
    let mut mem = vec![0u64; words].into_boxed_slice();
    let obj = mem.as_mut_ptr() as usize;
    vm.env.kstate.objects.insert(obj, Object { _mem: mem, size, owner: None });
    expose(vm, obj, 0)
}

/// `void bpf_obj_drop_impl(void *p, void *meta)`: frees an object the
/// program owns. Its region stops answering at once.
pub(super) fn obj_drop(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    let Some((obj, off)) = resolve(vm, site, args[0], "object") else { return 0 };
    if off != 0 {
        return site.fail(vm, format!("{:#x} is {off} bytes into its object, not at its start", args[0]));
    }
    if vm.env.kstate.objects.get(&obj).is_some_and(|o| o.owner.is_some()) {
        return site.fail(vm, "the object is in an rbtree or list".into());
    }
    drop_object(vm, obj);
    vm.regions.set(region_of(args[0]), Region::EMPTY);
    vm.sync();
    0
}

/// Free object `obj` (its memory goes; rows over it must not be used).
pub(super) fn drop_object(vm: &mut Vm, obj: usize) {
    vm.env.kstate.objects.remove(&obj);
}

/// The node field `addr` points at: in a live object, with room for a
/// `size`-byte `bpf_rb_node`/`bpf_list_node`.
pub(super) fn node_at(vm: &mut Vm, site: Site, addr: u64, size: u32) -> Option<Node> {
    let (obj, off) = resolve(vm, site, addr, "node")?;
    let fits = vm.env.kstate.size_of(obj).is_some_and(|s| off.checked_add(size).is_some_and(|end| end <= s));
    if !fits {
        site.fail(vm, format!("node {addr:#x} leaves no {size} bytes in its object"));
        return None;
    }
    Some(Node { obj, off })
}

/// The host address of a `bpf_rb_root`/`bpf_list_head` (16 bytes) at
/// `addr`, or a fault.
pub(super) fn head_at(vm: &mut Vm, site: Site, addr: u64) -> Option<usize> {
    match vm.regions.host(addr, 16) {
        Some(p) => Some(p as usize),
        None => {
            site.fail(vm, format!("root {addr:#x} is not 16 bytes of the program's memory"));
            None
        }
    }
}
