//! The open-coded numeric iterator, `struct bpf_iter_num` (8 bytes on the
//! program's stack). As in the kernel the state lives in those bytes,
//! `{ int cur; int end; }`, and `bpf_iter_num_next` returns a pointer to
//! `cur` in them.

use super::{E2BIG, EINVAL, Site, neg_errno};
use crate::engine::vm::Vm;

/// The kernel's `BPF_MAX_LOOPS`: the most iterations one iterator gives.
pub const BPF_MAX_LOOPS: i64 = 8 * 1024 * 1024;

/// `(cur, end)` of the iterator at `it`; a fault when `it` is not 8
/// bytes of memory.
fn load(vm: &mut Vm, site: Site, it: u64) -> Option<(i32, i32)> {
    let b = vm.bytes(site.pc, it, 8)?;
    Some((i32::from_le_bytes([b[0], b[1], b[2], b[3]]), i32::from_le_bytes([b[4], b[5], b[6], b[7]])))
}

fn store(vm: &mut Vm, site: Site, it: u64, cur: i32, end: i32) -> Option<()> {
    let bytes = vm.bytes(site.pc, it, 8)?;
    bytes[..4].copy_from_slice(&cur.to_le_bytes());
    bytes[4..].copy_from_slice(&end.to_le_bytes());
    Some(())
}

/// `int bpf_iter_num_new(it, int start, int end)`: iterates
/// `start .. end - 1`; `-EINVAL` (and an empty iterator) when
/// `start > end`, `-E2BIG` when the range exceeds [`BPF_MAX_LOOPS`].
pub(super) fn num_new(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    let (start, end) = (args[1] as u32 as i32, args[2] as u32 as i32);
    let (cur, end, ret) = if start > end {
        (0, 0, neg_errno(EINVAL))
    } else if i64::from(end) - i64::from(start) > BPF_MAX_LOOPS {
        (0, 0, neg_errno(E2BIG))
    } else {
        (start.wrapping_sub(1), end, 0)
    };
    match store(vm, site, args[0], cur, end) {
        Some(()) => ret,
        None => 0,
    }
}

/// `int *bpf_iter_num_next(it)`: the next number (a pointer to the
/// iterator's `cur`), or NULL once done (and then for good).
pub(super) fn num_next(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    let Some((cur, end)) = load(vm, site, args[0]) else { return 0 };
    if i64::from(cur.wrapping_add(1)) >= i64::from(end) {
        store(vm, site, args[0], 0, 0);
        return 0;
    }
    match store(vm, site, args[0], cur.wrapping_add(1), end) {
        Some(()) => args[0],
        None => 0,
    }
}

/// `void bpf_iter_num_destroy(it)`.
pub(super) fn num_destroy(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    store(vm, site, args[0], 0, 0);
    0
}
