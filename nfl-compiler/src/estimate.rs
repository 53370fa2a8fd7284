//! What a program will cost the kernel: its size, its stack, and an
//! estimate of the verifier's processed-instruction count (the budget the
//! kernel caps at [`VERIFIER_BUDGET`]).
//!
//! The size and the stack are exact (counted after register allocation).
//! The processed count is a model of the final machine CFG, a DAG: the
//! verifier walks each block once per distinct state that reaches it, and
//! at a join the states of the incoming paths add up, less the ones it
//! prunes as equal. Paths that differ in the validity bits stay apart
//! (the control tests them): a block has at least as many states as the
//! distinct flag-word values that reach it ([`flags`], computed on the IR
//! path by path). Beyond that we count `max(incoming) + (edges - 1)`
//! states at a join: one new state per merging path, as when the paths
//! differ in a value a later branch depends on (a score). A bounded loop (the tuple-space walk of a large
//! classifier, a heap's sift) is walked by the verifier once per
//! iteration: the blocks between a back edge's target and source count
//! once per iteration, the smallest immediate a loop exit compares with
//! (a branch with one side out of the loop; at most [`MAX_TRIPS`],
//! [`DEFAULT_TRIPS`] when no exit compares with an immediate). See
//! docs/decisions.md ("Stages") for the measured ratios.

pub mod flags;

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
/// Iterations assumed for a loop that compares with no immediate.
pub const DEFAULT_TRIPS: u64 = 64;
/// At most this many iterations are assumed for one loop.
pub const MAX_TRIPS: u64 = 1024;

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
/// whose entry is block `entry`; `floor[b]` is the least number of states
/// of block `b` (its distinct flag values; missing: 1).
pub fn processed(mf: &MFunc, entry: usize, floor: &[u64]) -> u64 {
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
    let trips = loop_trips(mf, &order, &rank);
    let mut total = 0u64;
    for &b in &order {
        let model = if b == entry { 1 } else { most[b] + edges[b].saturating_sub(1) };
        states[b] = model.max(floor.get(b).copied().unwrap_or(1)).min(STATE_CAP);
        let block = &mf.blocks[b];
        let len = block.insts.iter().map(|i| i.slots() as u64).sum::<u64>() + u64::from(!matches!(block.term, MTerm::Exit));
        total = total.saturating_add(states[b].saturating_mul(len).saturating_mul(trips[b]));
        for s in block.term.successors() {
            if s < n && rank[s] > rank[b] {
                edges[s] += 1;
                most[s] = most[s].max(states[b]);
            }
        }
    }
    total
}

/// Per block, how many times the verifier walks it for each state: the
/// product of the iteration counts of the loops around it. A loop is a
/// back edge's natural loop: its target and the blocks that reach its
/// source without passing the target.
fn loop_trips(mf: &MFunc, order: &[usize], rank: &[usize]) -> Vec<u64> {
    let n = mf.blocks.len();
    let mut preds = vec![Vec::new(); n];
    for &b in order {
        for s in mf.blocks[b].term.successors() {
            if s < n {
                preds[s].push(b);
            }
        }
    }
    let mut trips = vec![1u64; n];
    for &b in order {
        for h in mf.blocks[b].term.successors() {
            if h >= n || rank[h] > rank[b] {
                continue;
            }
            let mut body = vec![false; n];
            body[h] = true;
            let mut stack = vec![b];
            while let Some(x) = stack.pop() {
                if !std::mem::replace(&mut body[x], true) {
                    stack.extend(preds[x].iter().copied());
                }
            }
            let bound = (0..n)
                .filter(|&x| body[x])
                .filter_map(|x| match mf.blocks[x].term {
                    MTerm::Cond { code, imm, taken, not_taken, .. }
                        if code & crate::bpf::insn::BPF_X == 0 && (!body.get(taken).copied().unwrap_or(false) || !body.get(not_taken).copied().unwrap_or(false)) =>
                    {
                        u64::try_from(imm).ok()
                    }
                    _ => None,
                })
                .min()
                .unwrap_or(DEFAULT_TRIPS)
                .clamp(2, MAX_TRIPS);
            for x in (0..n).filter(|&x| body[x]) {
                trips[x] = trips[x].saturating_mul(bound);
            }
        }
    }
    trips
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lower::mir::{MBlock, MTerm};

    fn block(term: MTerm) -> MBlock {
        MBlock { insts: Vec::new(), term }
    }

    /// A diamond joins two states; a loop of bound 10 walks its body ten
    /// times.
    #[test]
    fn joins_add_states_and_loops_multiply() {
        use crate::lower::mir::Reg;
        let cond = |taken, not_taken, imm| MTerm::Cond { code: 0x25, dst: Reg::Phys(1), src: Reg::Phys(0), imm, taken, not_taken, span: Default::default() };
        let diamond = MFunc { blocks: vec![block(cond(1, 2, 0)), block(MTerm::Jump(3)), block(MTerm::Jump(3)), block(MTerm::Jump(4)), block(MTerm::Exit)], n_vregs: 0, stack_size: 0 };
        // entry 1 + two arms 1 each + join (2 states) 1 each + exit (2 states, 0 insns)
        assert_eq!(processed(&diamond, 0, &[]), 1 + 1 + 1 + 2);
        // Three flag values reach the join: three states there.
        assert_eq!(processed(&diamond, 0, &[1, 1, 1, 3, 3]), 1 + 1 + 1 + 3);
        let looped = MFunc { blocks: vec![block(MTerm::Jump(1)), block(cond(2, 3, 10)), block(MTerm::Jump(1)), block(MTerm::Exit)], n_vregs: 0, stack_size: 0 };
        assert_eq!(processed(&looped, 0, &[]), 1 + 10 + 10);
    }
}
