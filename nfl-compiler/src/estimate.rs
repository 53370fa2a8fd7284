//! What a program will cost the kernel: its size, its stack, and an
//! estimate of the verifier's processed-instruction count (the budget the
//! kernel caps at [`VERIFIER_BUDGET`]).
//!
//! The size and the stack are exact (counted after register allocation).
//! The processed count is a model of the final machine CFG, a DAG: the
//! verifier walks each block once per distinct state that reaches it, and
//! at a join the states of the incoming paths add up, less the ones it
//! prunes as equal. We count `max(incoming) + (edges - 1)` states at a
//! join: one new state per merging path, as when the paths differ in a
//! value a later branch depends on (a header's validity bits after the
//! parser, a score). Back edges (bounded loops of large classifiers) are
//! counted once, so such programs are under-estimated; see
//! docs/decisions.md ("Stages") for the measured ratios.

use crate::lower::mir::{MFunc, MTerm};

/// The kernel's limit on processed instructions
/// (`BPF_COMPLEXITY_LIMIT_INSNS`).
pub const VERIFIER_BUDGET: u64 = 1_000_000;
/// The eBPF stack.
pub const STACK_LIMIT: u32 = 512;
/// The stack of each frame when tail calls mix with bpf-to-bpf calls.
pub const STACK_LIMIT_WITH_CALLS: u32 = 256;
/// States per block are counted up to this, so sums stay finite.
const STATE_CAP: u64 = 1 << 24;

/// The cost of one program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Estimate {
    /// Instructions (8-byte slots) in the object.
    pub insns: usize,
    /// Bytes of stack.
    pub stack: u32,
    /// Estimated verifier processed instructions.
    pub processed: u64,
}

/// The processed-instruction estimate of an allocated machine function
/// whose entry is block `entry`.
pub fn processed(mf: &MFunc, entry: usize) -> u64 {
    let n = mf.blocks.len();
    let order = topo_order(mf, entry);
    let mut rank = vec![usize::MAX; n];
    for (i, &b) in order.iter().enumerate() {
        rank[b] = i;
    }
    // Incoming forward edges and the largest state count among them.
    let mut edges = vec![0u64; n];
    let mut most = vec![0u64; n];
    let mut states = vec![0u64; n];
    let mut total = 0u64;
    for &b in &order {
        states[b] = if b == entry { 1 } else { (most[b] + edges[b].saturating_sub(1)).min(STATE_CAP) };
        let block = &mf.blocks[b];
        let len = block.insts.iter().map(|i| i.slots() as u64).sum::<u64>() + u64::from(!matches!(block.term, MTerm::Exit));
        total = total.saturating_add(states[b].saturating_mul(len));
        for s in block.term.successors() {
            if s < n && rank[s] > rank[b] {
                edges[s] += 1;
                most[s] = most[s].max(states[b]);
            }
        }
    }
    total
}

/// Blocks reachable from `entry` in reverse post-order.
fn topo_order(mf: &MFunc, entry: usize) -> Vec<usize> {
    let n = mf.blocks.len();
    let mut seen = vec![false; n];
    let mut post = Vec::with_capacity(n);
    if entry >= n {
        return post;
    }
    let mut stack = vec![(entry, 0usize)];
    seen[entry] = true;
    while let Some((b, i)) = stack.pop() {
        let succs = mf.blocks[b].term.successors();
        if let Some(&s) = succs.get(i) {
            stack.push((b, i + 1));
            if s < n && !seen[s] {
                seen[s] = true;
                stack.push((s, 0));
            }
        } else {
            post.push(b);
        }
    }
    post.reverse();
    post
}
