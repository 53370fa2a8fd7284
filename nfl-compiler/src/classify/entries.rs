//! The rules map as the classifier keeps it: per key, every rule with an
//! expansion there, so that removing the winner brings the next one back.

use super::hash::WordMap;

/// What a change did to one key's stored rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Winner {
    /// The stored rule is the same as before.
    Same,
    /// The key now stores the rule of this priority.
    Now(u32),
    /// The key has no rule left.
    Gone,
}

/// Keys are `[tuple_id, masked fields...]`.
#[derive(Default)]
pub struct Entries {
    map: WordMap<Box<[u64]>, Vec<u32>>,
}

impl Entries {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn contains(&self, key: &[u64]) -> bool {
        self.map.contains_key(key)
    }

    /// The priority of the rule stored at `key`.
    pub fn winner(&self, key: &[u64]) -> Option<u32> {
        self.map.get(key).and_then(|c| c.last().copied())
    }

    /// Adds rule `prio` as a candidate of `key`.
    pub fn add(&mut self, key: &[u64], prio: u32) -> Winner {
        let candidates = match self.map.get_mut(key) {
            Some(c) => c,
            None => self.map.entry(key.into()).or_default(),
        };
        let at = candidates.partition_point(|&p| p < prio);
        candidates.insert(at, prio);
        if at + 1 == candidates.len() {
            Winner::Now(prio)
        } else {
            Winner::Same
        }
    }

    /// Removes rule `prio` as a candidate of `key`.
    pub fn remove(&mut self, key: &[u64], prio: u32) -> Winner {
        let Some(candidates) = self.map.get_mut(key) else {
            return Winner::Same;
        };
        let Ok(at) = candidates.binary_search(&prio) else {
            return Winner::Same;
        };
        candidates.remove(at);
        match candidates.last() {
            None => {
                self.map.remove(key);
                Winner::Gone
            }
            Some(&p) if at == candidates.len() => Winner::Now(p),
            Some(_) => Winner::Same,
        }
    }

    /// Every key with its stored rule's priority, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u64], u32)> + '_ {
        self.map
            .iter()
            .filter_map(|(k, c)| Some((&**k, *c.last()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_candidate_is_stored_and_the_next_comes_back() {
        let mut e = Entries::default();
        let key = [0, 7];
        assert_eq!(e.add(&key, 5), Winner::Now(5));
        assert_eq!(e.add(&key, 3), Winner::Same);
        assert_eq!(e.add(&key, 9), Winner::Now(9));
        assert_eq!(e.winner(&key), Some(9));
        assert_eq!(e.remove(&key, 5), Winner::Same);
        assert_eq!(e.remove(&key, 9), Winner::Now(3));
        assert_eq!(e.remove(&key, 4), Winner::Same);
        assert_eq!(e.remove(&key, 3), Winner::Gone);
        assert_eq!(e.len(), 0);
        assert_eq!(e.remove(&key, 3), Winner::Same);
    }
}
