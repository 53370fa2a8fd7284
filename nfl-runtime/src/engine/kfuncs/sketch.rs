//! kfunc-lib's module kfuncs (`nfl_kfuncs.c`, the `enetstl` profile),
//! computed with the Rust twin (`kfunc_lib`), which its tests prove equal
//! to the module's C. They update the map value in place, a row at a
//! time, with the twin's hash, row seeds, count-sketch sign and HLL rank,
//! so a call costs what it costs in the kernel, not a copy of the sketch.
//! Shapes are checked as the module checks them (`-EINVAL` otherwise).
//!
//! Arguments: `(state ptr, state size, key ptr, key size[, x])`.

use kfunc_lib::count_sketch::sign_of;
use kfunc_lib::hll::index_rank;
use kfunc_lib::{murmur3_32, row_seed};

use super::{EINVAL, Site, neg_errno};
use crate::engine::vm::Vm;

/// The module's limit on rows (`NFL_MAX_ROWS`).
const MAX_ROWS: u32 = 32;

/// `nfl_grid_cols`: the columns of a `rows`-row grid of `bytes` bytes of
/// `u32` counters, or `None` unless `1 ≤ rows ≤ 32` and the columns are a
/// power of two filling the bytes exactly.
pub fn grid_cols(bytes: u32, rows: u32) -> Option<u32> {
    if rows == 0 || rows > MAX_ROWS || !bytes.is_multiple_of(4 * rows) {
        return None;
    }
    Some(bytes / (4 * rows)).filter(|c| c.is_power_of_two())
}

/// The key's bytes (copied: the state is borrowed next).
fn key(vm: &mut Vm, site: Site, args: [u64; 5]) -> Option<Vec<u8>> {
    Some(vm.bytes(site.pc, args[2], u64::from(args[3] as u32))?.to_vec())
}

/// The key and the state `[args[0], + args[1] as u32)`, both checked.
fn key_and_state(vm: &mut Vm, site: Site, args: [u64; 5]) -> Option<(Vec<u8>, &mut [u8])> {
    let key = key(vm, site, args)?;
    Some((key, vm.bytes(site.pc, args[0], u64::from(args[1] as u32))?))
}

/// The index of `key`'s counter in `row` of a `cols`-column grid, and the
/// row hash.
fn slot(key: &[u8], row: u32, cols: u32) -> (usize, u32) {
    let h = murmur3_32(key, row_seed(row));
    ((row * cols + (h & (cols - 1))) as usize * 4, h)
}

fn word(state: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([state[at], state[at + 1], state[at + 2], state[at + 3]])
}

fn set_word(state: &mut [u8], at: usize, v: u32) {
    state[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// `int nfl_cm_add(u32 *ctr, u32 ctr__sz, key, key__sz, u64 rows << 32 | n)`.
pub(super) fn cm_add(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    let (rows, n) = ((args[4] >> 32) as u32, args[4] as u32);
    let Some((key, state)) = key_and_state(vm, site, args) else { return 0 };
    let Some(cols) = grid_cols(state.len() as u32, rows) else { return neg_errno(EINVAL) };
    for row in 0..rows {
        let (at, _) = slot(&key, row, cols);
        set_word(state, at, word(state, at).wrapping_add(n));
    }
    0
}

/// `u32 nfl_cm_query(const u32 *ctr, u32 ctr__sz, key, key__sz, u32 rows)`:
/// the minimum of the key's counters; 0 for a bad shape.
pub(super) fn cm_query(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    let rows = args[4] as u32;
    let Some((key, state)) = key_and_state(vm, site, args) else { return 0 };
    let Some(cols) = grid_cols(state.len() as u32, rows) else { return 0 };
    let min = (0..rows).map(|row| word(state, slot(&key, row, cols).0)).min();
    u64::from(min.unwrap_or(0))
}

/// `int nfl_cs_add(s32 *ctr, u32 ctr__sz, key, key__sz, u64 rows << 32 | n)`:
/// `sign_row * n` into each row, wrapping.
pub(super) fn cs_add(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    let (rows, n) = ((args[4] >> 32) as u32, args[4] as u32 as i32);
    let Some((key, state)) = key_and_state(vm, site, args) else { return 0 };
    let Some(cols) = grid_cols(state.len() as u32, rows) else { return neg_errno(EINVAL) };
    for row in 0..rows {
        let (at, h) = slot(&key, row, cols);
        let c = word(state, at) as i32;
        set_word(state, at, c.wrapping_add(n.wrapping_mul(sign_of(h))) as u32);
    }
    0
}

/// The module's `nfl_bloom_bits`: `m = 8 * size` when the size is at
/// least 4 bytes and `m` a power of two.
fn bloom_bits(bytes: u32) -> Option<u32> {
    Some(bytes.wrapping_mul(8)).filter(|m| bytes >= 4 && m.is_power_of_two())
}

/// The byte and bit of Bloom hash `i` of `key` in an `m`-bit filter.
fn bloom_bit(key: &[u8], i: u32, m: u32) -> (usize, u32) {
    let b = murmur3_32(key, row_seed(i)) & (m - 1);
    ((b >> 5) as usize * 4, 1 << (b & 31))
}

/// `int nfl_bloom_add(u32 *words, u32 words__sz, key, key__sz, u32 k)`.
pub(super) fn bloom_add(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    let k = args[4] as u32;
    let Some((key, state)) = key_and_state(vm, site, args) else { return 0 };
    let Some(m) = bloom_bits(state.len() as u32) else { return neg_errno(EINVAL) };
    for i in 0..k {
        let (at, bit) = bloom_bit(&key, i, m);
        set_word(state, at, word(state, at) | bit);
    }
    0
}

/// `int nfl_bloom_contains(const u32 *words, u32 words__sz, key, key__sz, u32 k)`:
/// 1 when all `k` bits are set (so 1 for `k = 0`), else 0.
pub(super) fn bloom_contains(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    let k = args[4] as u32;
    let Some((key, state)) = key_and_state(vm, site, args) else { return 0 };
    let Some(m) = bloom_bits(state.len() as u32) else { return neg_errno(EINVAL) };
    let all = (0..k).all(|i| {
        let (at, bit) = bloom_bit(&key, i, m);
        word(state, at) & bit != 0
    });
    u64::from(all)
}

/// `int nfl_hll_add(u8 *regs, u32 regs__sz, key, key__sz)`: `p =
/// log2(regs__sz)`, `4 ≤ p ≤ 16`.
pub(super) fn hll_add(vm: &mut Vm, args: [u64; 5], site: Site) -> u64 {
    let Some((key, regs)) = key_and_state(vm, site, args) else { return 0 };
    let size = regs.len() as u32;
    let p = size.trailing_zeros();
    if !(4..=16).contains(&p) || size != 1 << p {
        return neg_errno(EINVAL);
    }
    let (idx, rank) = index_rank(murmur3_32(&key, row_seed(0)), p);
    let r = &mut regs[idx as usize];
    *r = (*r).max(rank);
    0
}
