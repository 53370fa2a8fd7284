//! List buckets (eNetSTL's "list buckets", e.g. a timing wheel): `n`
//! buckets, each a FIFO list of at most `cap` items. Push goes to the tail,
//! pop takes the head, `remove_if` keeps the others in order, `drain`
//! empties a bucket head first. Bucket indices out of range panic.

use std::collections::VecDeque;

use crate::error::ShapeError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets<T> {
    lists: Vec<VecDeque<T>>,
    cap: usize,
}

impl<T> Buckets<T> {
    pub fn new(n: usize, cap: usize) -> Result<Self, ShapeError> {
        if n == 0 {
            return Err(ShapeError::Zero("bucket count"));
        }
        if cap == 0 {
            return Err(ShapeError::Zero("bucket capacity"));
        }
        Ok(Buckets {
            lists: (0..n).map(|_| VecDeque::new()).collect(),
            cap,
        })
    }

    pub fn buckets(&self) -> usize {
        self.lists.len()
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    pub fn len(&self, b: usize) -> usize {
        self.lists[b].len()
    }

    pub fn is_empty(&self, b: usize) -> bool {
        self.lists[b].is_empty()
    }

    /// Appends to bucket `b`; a full bucket gives the item back.
    pub fn push(&mut self, b: usize, item: T) -> Result<(), T> {
        let list = &mut self.lists[b];
        if list.len() == self.cap {
            return Err(item);
        }
        list.push_back(item);
        Ok(())
    }

    /// Takes the oldest item of bucket `b`.
    pub fn pop(&mut self, b: usize) -> Option<T> {
        self.lists[b].pop_front()
    }

    pub fn iter(&self, b: usize) -> impl Iterator<Item = &T> {
        self.lists[b].iter()
    }

    /// Removes the items of bucket `b` matching `pred`; returns how many.
    pub fn remove_if(&mut self, b: usize, mut pred: impl FnMut(&T) -> bool) -> usize {
        let before = self.lists[b].len();
        self.lists[b].retain(|x| !pred(x));
        before - self.lists[b].len()
    }

    /// Empties bucket `b`, oldest first.
    pub fn drain(&mut self, b: usize) -> Vec<T> {
        self.lists[b].drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_fifo_per_bucket() {
        assert!(Buckets::<u32>::new(0, 1).is_err());
        assert!(Buckets::<u32>::new(1, 0).is_err());
        let mut b = Buckets::new(4, 2).unwrap();
        assert_eq!(b.push(1, 10), Ok(()));
        assert_eq!(b.push(1, 11), Ok(()));
        assert_eq!(b.push(1, 12), Err(12));
        assert_eq!((b.len(1), b.len(0)), (2, 0));
        assert_eq!(b.pop(1), Some(10));
        assert_eq!(b.push(1, 12), Ok(()));
        assert_eq!(b.iter(1).copied().collect::<Vec<_>>(), [11, 12]);
        assert_eq!(b.remove_if(1, |&x| x == 11), 1);
        assert_eq!(b.drain(1), [12]);
        assert!(b.is_empty(1));
        assert_eq!(b.pop(3), None);
    }

    /// A timing wheel: a timer due at tick t goes into bucket t % n; each
    /// tick drains its bucket and fires the timers due now, re-queueing the
    /// ones a full turn (or more) later.
    #[test]
    fn timing_wheel_fires_each_timer_on_its_tick() {
        let n = 8;
        let mut wheel: Buckets<(u64, u32)> = Buckets::new(n, 64).unwrap();
        let timers: Vec<(u64, u32)> = (0..40u32).map(|i| ((u64::from(i) * 7) % 37, i)).collect();
        for &(due, id) in &timers {
            wheel.push((due % n as u64) as usize, (due, id)).unwrap();
        }
        let mut fired = Vec::new();
        for tick in 0..40u64 {
            let b = (tick % n as u64) as usize;
            for (due, id) in wheel.drain(b) {
                if due == tick {
                    fired.push((due, id));
                } else {
                    wheel.push(b, (due, id)).unwrap();
                }
            }
        }
        let mut want = timers.clone();
        want.sort();
        let mut got = fired.clone();
        got.sort();
        assert_eq!(got, want);
        assert!(
            fired.windows(2).all(|w| w[0].0 <= w[1].0),
            "fired in tick order"
        );
    }
}
