//! SpaceSaving top-k reference with deterministic tie-breaking.
//!
//! K slots, each empty or `(key, count, error)`. `add(key, n)`:
//! 1. a slot holding `key` adds `n` (wrapping `u64`);
//! 2. else the lowest-index empty slot takes `(key, n, 0)`;
//! 3. else the slot with the smallest count is evicted, ties going to the
//!    lowest slot index, and becomes `(key, min + n, min)`.
//!
//! `top(n)`: occupied slots sorted by count descending, then key bytes
//! ascending, first `n`.

use crate::error::ShapeError;

/// One monitored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Vec<u8>,
    pub count: u64,
    /// Over-estimation bound: the count the slot had when this key took it.
    pub error: u64,
}

/// SpaceSaving with `k` slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceSaving {
    slots: Vec<Option<Entry>>,
}

impl SpaceSaving {
    pub fn new(k: usize) -> Result<Self, ShapeError> {
        if k == 0 {
            return Err(ShapeError::Zero("k"));
        }
        Ok(SpaceSaving {
            slots: vec![None; k],
        })
    }

    /// The slots in index order.
    pub fn slots(&self) -> &[Option<Entry>] {
        &self.slots
    }

    /// Counts `n` more for `key`; returns the slot index used.
    pub fn add(&mut self, key: &[u8], n: u64) -> usize {
        if let Some(i) = self.find(key) {
            let e = self.slots[i].as_mut().expect("found slot is occupied");
            e.count = e.count.wrapping_add(n);
            return i;
        }
        if let Some(i) = self.slots.iter().position(Option::is_none) {
            self.slots[i] = Some(Entry {
                key: key.to_vec(),
                count: n,
                error: 0,
            });
            return i;
        }
        let (i, min) = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|e| (i, e.count)))
            .min_by_key(|&(i, c)| (c, i))
            .expect("k ≥ 1 and every slot is occupied");
        self.slots[i] = Some(Entry {
            key: key.to_vec(),
            count: min.wrapping_add(n),
            error: min,
        });
        i
    }

    /// The slot index holding `key`.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|e| e.key == key))
    }

    /// The estimated count of `key` (0 if not monitored).
    pub fn count(&self, key: &[u8]) -> u64 {
        self.find(key)
            .and_then(|i| self.slots[i].as_ref())
            .map_or(0, |e| e.count)
    }

    /// The `n` largest: count descending, then key bytes ascending.
    pub fn top(&self, n: usize) -> Vec<Entry> {
        let mut v: Vec<Entry> = self.slots.iter().flatten().cloned().collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        v.truncate(n);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_then_evicts_smallest_lowest_index() {
        let mut s = SpaceSaving::new(3).unwrap();
        assert!(SpaceSaving::new(0).is_err());
        assert_eq!(s.add(b"a", 5), 0);
        assert_eq!(s.add(b"b", 2), 1);
        assert_eq!(s.add(b"c", 2), 2);
        assert_eq!(s.add(b"a", 1), 0);
        // b and c tie at 2: the lowest index (1) goes.
        assert_eq!(s.add(b"d", 1), 1);
        let d = s.slots()[1].clone().unwrap();
        assert_eq!((d.key.as_slice(), d.count, d.error), (&b"d"[..], 3, 2));
        // Now c (2) is the smallest.
        assert_eq!(s.add(b"e", 4), 2);
        assert_eq!(s.count(b"e"), 6);
        assert_eq!(s.count(b"c"), 0);
    }

    #[test]
    fn top_orders_by_count_then_key() {
        let mut s = SpaceSaving::new(4).unwrap();
        for (k, n) in [(&b"zz"[..], 3), (b"aa", 3), (b"mm", 9), (b"b", 1)] {
            s.add(k, n);
        }
        let keys: Vec<Vec<u8>> = s.top(3).into_iter().map(|e| e.key).collect();
        assert_eq!(keys, [b"mm".to_vec(), b"aa".to_vec(), b"zz".to_vec()]);
        assert_eq!(s.top(10).len(), 4);
    }

    #[test]
    fn heavy_hitters_survive_and_counts_bound_truth() {
        let mut s = SpaceSaving::new(16).unwrap();
        let mut truth = std::collections::HashMap::new();
        for i in 0u32..20_000 {
            let key = if i % 5 == 0 { i % 15 } else { 1000 + i % 3000 };
            s.add(&key.to_le_bytes(), 1);
            *truth.entry(key).or_insert(0u64) += 1;
        }
        for e in s.slots().iter().flatten() {
            let k = u32::from_le_bytes(e.key[..].try_into().unwrap());
            let t = truth[&k];
            assert!(
                e.count >= t && e.count - e.error <= t,
                "{k}: {e:?} truth {t}"
            );
        }
        let top: Vec<u32> = s
            .top(3)
            .iter()
            .map(|e| u32::from_le_bytes(e.key[..].try_into().unwrap()))
            .collect();
        assert!(top.iter().all(|&k| k < 15), "{top:?}");
    }
}
