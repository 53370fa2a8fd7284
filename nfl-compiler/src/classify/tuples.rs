//! The tuples (mask vectors) of a classifier: ids, the priorities of the
//! rules with entries in each, and the probe order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use super::hash::WordMap;

struct Tuple {
    mask: Box<[u64]>,
    /// Priority of each rule with entries here → how many entries.
    prios: BTreeMap<u32, u32>,
}

impl Tuple {
    fn max_prio(&self) -> u32 {
        self.prios.last_key_value().map_or(0, |(&p, _)| p)
    }
}

/// One live mask slot: what the masks image holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot<'a> {
    pub max_prio: u32,
    pub tuple_id: u32,
    pub mask: &'a [u64],
}

/// Tuple ids are the lowest free ones, so they stay below the number of
/// live tuples ever held at once (and below the mask bound).
#[derive(Default)]
pub struct Tuples {
    by_id: Vec<Option<Tuple>>,
    by_mask: WordMap<Box<[u64]>, u32>,
    free: BTreeSet<u32>,
    /// Probe order: `max_prio` descending, then `tuple_id` ascending.
    order: BTreeSet<(Reverse<u32>, u32)>,
}

impl Tuples {
    pub fn live(&self) -> usize {
        self.order.len()
    }

    pub fn id_of(&self, mask: &[u64]) -> Option<u32> {
        self.by_mask.get(mask).copied()
    }

    /// The tuple of `mask`, created (empty, not yet in the probe order) if
    /// there is none.
    pub fn get_or_create(&mut self, mask: &[u64]) -> u32 {
        if let Some(id) = self.id_of(mask) {
            return id;
        }
        let id = self.free.pop_first().unwrap_or(self.by_id.len() as u32);
        let tuple = Tuple {
            mask: mask.into(),
            prios: BTreeMap::new(),
        };
        if id as usize == self.by_id.len() {
            self.by_id.push(Some(tuple));
        } else {
            self.by_id[id as usize] = Some(tuple);
        }
        self.by_mask.insert(mask.into(), id);
        id
    }

    /// Counts one more entry of the rule `prio` in tuple `id`. True when
    /// the tuple's slot changed (it is new or its `max_prio` rose).
    pub fn add(&mut self, id: u32, prio: u32) -> bool {
        let Some(tuple) = self.by_id[id as usize].as_mut() else {
            return false;
        };
        let before = (!tuple.prios.is_empty()).then(|| tuple.max_prio());
        *tuple.prios.entry(prio).or_insert(0) += 1;
        let after = tuple.max_prio();
        self.reorder(id, before, Some(after))
    }

    /// Counts one entry less of the rule `prio` in tuple `id`; frees the
    /// tuple when it has none left. True when the tuple's slot changed.
    pub fn remove(&mut self, id: u32, prio: u32) -> bool {
        let Some(tuple) = self.by_id[id as usize].as_mut() else {
            return false;
        };
        let before = tuple.max_prio();
        if let Some(n) = tuple.prios.get_mut(&prio) {
            *n -= 1;
            if *n == 0 {
                tuple.prios.remove(&prio);
            }
        }
        let after = (!tuple.prios.is_empty()).then(|| tuple.max_prio());
        if after.is_none() {
            self.release(id);
        }
        self.reorder(id, Some(before), after)
    }

    fn release(&mut self, id: u32) {
        if let Some(tuple) = self.by_id[id as usize].take() {
            self.by_mask.remove(&tuple.mask);
            self.free.insert(id);
        }
    }

    fn reorder(&mut self, id: u32, before: Option<u32>, after: Option<u32>) -> bool {
        if before == after {
            return false;
        }
        if let Some(p) = before {
            self.order.remove(&(Reverse(p), id));
        }
        if let Some(p) = after {
            self.order.insert((Reverse(p), id));
        }
        true
    }

    /// The live slots in probe order.
    pub fn slots(&self) -> impl Iterator<Item = Slot<'_>> + '_ {
        self.order.iter().filter_map(|&(Reverse(max_prio), id)| {
            let tuple = self.by_id[id as usize].as_ref()?;
            Some(Slot {
                max_prio,
                tuple_id: id,
                mask: &tuple.mask,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(t: &Tuples) -> Vec<(u32, u32)> {
        t.slots().map(|s| (s.max_prio, s.tuple_id)).collect()
    }

    #[test]
    fn order_follows_max_prio_then_id() {
        let mut t = Tuples::default();
        let a = t.get_or_create(&[1]);
        let b = t.get_or_create(&[2]);
        assert!(t.add(a, 10));
        assert!(t.add(b, 10));
        assert!(!t.add(b, 5));
        assert_eq!(order(&t), vec![(10, 0), (10, 1)]);
        assert!(t.add(b, 20));
        assert_eq!(order(&t), vec![(20, 1), (10, 0)]);
        assert!(!t.remove(b, 5));
        assert!(t.remove(b, 20));
        assert_eq!(order(&t), vec![(10, 0), (10, 1)]);
    }

    #[test]
    fn freed_ids_are_reused_lowest_first() {
        let mut t = Tuples::default();
        let ids: Vec<u32> = (0..3).map(|m| t.get_or_create(&[m])).collect();
        ids.iter().for_each(|&id| {
            t.add(id, id + 1);
        });
        assert!(t.remove(1, 2));
        assert!(t.remove(0, 1));
        assert_eq!((t.live(), t.id_of(&[1])), (1, None));
        assert_eq!(t.get_or_create(&[9]), 0);
        assert_eq!(t.get_or_create(&[8]), 1);
        assert_eq!(t.get_or_create(&[7]), 3);
    }
}
