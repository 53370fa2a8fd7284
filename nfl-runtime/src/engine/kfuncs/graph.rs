//! The kernel's rbtree and list kfuncs over [`super::objects`].
//!
//! A tree is kept as its in-order sequence, in a deque: removing the first
//! node is O(1); adding costs O(log n) `less` calls and a shift of the
//! shorter side. `bpf_rbtree_add_impl` places the node where the kernel's
//! walk (`less(node, parent)` → left, else right) puts it: after every
//! node it is not `less` than, so equal keys stay in insertion order. It
//! finds that place by binary search with the program's `less`; for any
//! strict weak order that is the kernel's place, though `less` sees other
//! pairs than the kernel's tree shape would give it (a pure `less`, as
//! nflc's, cannot tell). A node is owned by at most one collection; the
//! kernel's `owner` check is kept as [`super::objects::Object::owner`].
//! The roots' own bytes are never written: the kernel hides them from
//! userspace copies of map values, and so they stay zero.

use std::collections::VecDeque;

use super::objects::{Node, drop_object, expose, head_at, node_at};
use super::{EINVAL, Site, neg_errno};
use crate::engine::vm::{ABORT_NONE, Vm};

/// `sizeof(struct bpf_rb_node)` and `sizeof(struct bpf_list_node)` (6.4+).
const RB_NODE: u32 = 32;
const LIST_NODE: u32 = 24;

/// The root and node arguments of an add or remove, checked.
fn root_and_node(vm: &mut Vm, args: [u64; 5], site: Site, node_size: u32) -> Option<(usize, Node)> {
    let root = head_at(vm, site, args[0])?;
    Some((root, node_at(vm, site, args[1], node_size)?))
}

/// Claim `node` for `root`; false if a collection holds it already.
fn claim(vm: &mut Vm, node: Node, root: usize) -> bool {
    match vm.env.kstate.objects.get_mut(&node.obj) {
        Some(o) if o.owner.is_none() => {
            o.owner = Some(root);
            true
        }
        _ => false,
    }
}

fn release(vm: &mut Vm, node: Node) {
    if let Some(o) = vm.env.kstate.objects.get_mut(&node.obj) {
        o.owner = None;
    }
}

/// `int bpf_rbtree_add_impl(root, node, less, meta, off)`: 0, or
/// `-EINVAL` when the node is in a collection already (the kernel then
/// drops a reference of a refcounted object; the engine has none, and a
/// verified program cannot get here otherwise).
pub(super) fn rbtree_add(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    let Some((root, node)) = root_and_node(vm, args, site, RB_NODE) else { return 0 };
    if !claim(vm, node, root) {
        return neg_errno(EINVAL);
    }
    let (mut lo, mut hi) = (0, vm.env.kstate.trees.get(&root).map_or(0, VecDeque::len));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let Some(&other) = vm.env.kstate.trees.get(&root).and_then(|t| t.get(mid)) else { break };
        let a = expose(vm, node.obj, node.off);
        let b = expose(vm, other.obj, other.off);
        let less = vm.invoke(site.pc, args[2], [a, b, 0, 0, 0]);
        if vm.ctx.abort != ABORT_NONE {
            // The run is over; nothing will own the node.
            drop_object(vm, node.obj);
            return 0;
        }
        // `less` returns `bool`: the kernel tests its low byte.
        if less as u8 != 0 {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let tree = vm.env.kstate.trees.entry(root).or_default();
    tree.insert(lo.min(tree.len()), node);
    0
}

/// `struct bpf_rb_node *bpf_rbtree_first(root)`: the leftmost node, or NULL.
pub(super) fn rbtree_first(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    let Some(root) = head_at(vm, site, args[0]) else { return 0 };
    match vm.env.kstate.trees.get(&root).and_then(|t| t.front()).copied() {
        Some(n) => expose(vm, n.obj, n.off),
        None => 0,
    }
}

/// `struct bpf_rb_node *bpf_rbtree_remove(root, node)`: the node, out of
/// the tree, or NULL when `root` does not own it.
pub(super) fn rbtree_remove(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    let Some((root, node)) = root_and_node(vm, args, site, RB_NODE) else { return 0 };
    let owned = vm.env.kstate.objects.get(&node.obj).is_some_and(|o| o.owner == Some(root));
    let Some(tree) = vm.env.kstate.trees.get_mut(&root).filter(|_| owned) else { return 0 };
    let Some(at) = tree.iter().position(|n| n.obj == node.obj) else { return 0 };
    tree.remove(at);
    if tree.is_empty() {
        vm.env.kstate.trees.remove(&root);
    }
    release(vm, node);
    args[1]
}

fn list_push(vm: &mut Vm, args: [u64; 5], site: Site, back: bool) -> u64 {
    let Some((head, node)) = root_and_node(vm, args, site, LIST_NODE) else { return 0 };
    if !claim(vm, node, head) {
        return neg_errno(EINVAL);
    }
    let list = vm.env.kstate.lists.entry(head).or_default();
    if back {
        list.push_back(node);
    } else {
        list.push_front(node);
    }
    0
}

fn list_pop(vm: &mut Vm, args: [u64; 5], site: Site, back: bool) -> u64 {
    let Some(head) = head_at(vm, site, args[0]) else { return 0 };
    let Some(list) = vm.env.kstate.lists.get_mut(&head) else { return 0 };
    let node = if back { list.pop_back() } else { list.pop_front() };
    if list.is_empty() {
        vm.env.kstate.lists.remove(&head);
    }
    match node {
        Some(n) => {
            release(vm, n);
            expose(vm, n.obj, n.off)
        }
        None => 0,
    }
}

/// `int bpf_list_push_front_impl(head, node, meta, off)`: 0 or `-EINVAL`
/// as [`rbtree_add`].
pub(super) fn list_push_front(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    list_push(vm, args, site, false)
}

pub(super) fn list_push_back(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    list_push(vm, args, site, true)
}

/// `struct bpf_list_node *bpf_list_pop_front(head)`: NULL when empty.
pub(super) fn list_pop_front(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    list_pop(vm, args, site, false)
}

pub(super) fn list_pop_back(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    list_pop(vm, args, site, true)
}
