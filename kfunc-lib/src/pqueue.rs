//! Min-priority queue reference over `(rank, value)`; equal ranks leave in
//! insertion order (a sequence number breaks ties). The ordering oracle for
//! the kernel's rbtree pqueue.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A min-priority queue with FIFO order among equal ranks.
#[derive(Debug, Clone, Default)]
pub struct PQueue {
    heap: BinaryHeap<Reverse<(u64, u64, u64)>>,
    seq: u64,
}

impl PQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, rank: u64, value: u64) {
        self.heap.push(Reverse((rank, self.seq, value)));
        self.seq += 1;
    }

    /// The smallest rank, oldest first among equals: `(rank, value)`.
    pub fn pop_min(&mut self) -> Option<(u64, u64)> {
        self.heap.pop().map(|Reverse((r, _, v))| (r, v))
    }

    pub fn peek(&self) -> Option<(u64, u64)> {
        self.heap.peek().map(|&Reverse((r, _, v))| (r, v))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::randpool::XorShift64Star;

    #[test]
    fn min_first_and_fifo_ties() {
        let mut q = PQueue::new();
        assert_eq!((q.peek(), q.pop_min()), (None, None));
        for (r, v) in [(5, 1), (3, 2), (5, 3), (3, 4), (u64::MAX, 5), (0, 6)] {
            q.push(r, v);
        }
        assert_eq!(q.len(), 6);
        assert_eq!(q.peek(), Some((0, 6)));
        let order: Vec<(u64, u64)> = std::iter::from_fn(|| q.pop_min()).collect();
        assert_eq!(
            order,
            [(0, 6), (3, 2), (3, 4), (5, 1), (5, 3), (u64::MAX, 5)]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn equals_a_stable_sort_under_interleaving() {
        let mut rng = XorShift64Star::new(99);
        let mut q = PQueue::new();
        let mut model: Vec<(u64, u64)> = Vec::new(); // kept stably sorted by rank
        for i in 0..5000u64 {
            if rng.next_u64().is_multiple_of(3) {
                let got = q.pop_min();
                let want = (!model.is_empty()).then(|| model.remove(0));
                assert_eq!(got, want);
            } else {
                let r = rng.next_u64() % 20;
                q.push(r, i);
                let at = model.partition_point(|&(mr, _)| mr <= r);
                model.insert(at, (r, i));
            }
            assert_eq!(q.peek(), model.first().copied());
        }
    }
}
