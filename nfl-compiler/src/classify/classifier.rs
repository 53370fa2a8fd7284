//! [`Classifier`]: rules in, images and deltas out.

use std::collections::HashMap;

use super::entries::{Entries, Winner};
use super::expand::{Expansion, validate};
use super::image::{encode_key, encode_masks, encode_value};
use super::tuples::Tuples;
use super::{
    ClassifierStats, ClassifyError, DEFAULT_MAX_ENTRIES, Delta, MAX_FIELDS, MAX_MASKS_LIMIT, Rule,
};

/// The most entries [`capacity`] will expand before it gives up.
pub const CAPACITY_ENTRIES_LIMIT: u64 = 1 << 24;

/// A rule expanding to more entries than this and the budget is refused
/// without enumerating them: `TooManyEntries::needed` is then an upper
/// bound (entries it shares with other rules are counted twice).
const EXACT_COUNT_LIMIT: u64 = 1 << 20;

struct Stored {
    rule: Rule,
    expansions: usize,
}

/// A TSS classifier: its rules, their tuples and the rules map.
pub struct Classifier {
    widths: Vec<u32>,
    max_masks: u32,
    max_entries: u64,
    payload_len: usize,
    rules: HashMap<u32, Stored>,
    tuples: Tuples,
    entries: Entries,
    expansions: usize,
}

impl Classifier {
    /// An empty classifier for keys of `widths.len()` fields (each 1..=64
    /// bits), at most `max_masks` tuples (the masks value's slot count) and
    /// payloads of `payload_len` bytes. The rules-map budget starts at
    /// [`DEFAULT_MAX_ENTRIES`].
    pub fn new(
        widths: Vec<u32>,
        max_masks: u32,
        payload_len: usize,
    ) -> Result<Classifier, ClassifyError> {
        if max_masks > MAX_MASKS_LIMIT {
            return Err(ClassifyError::MaskBound {
                max_masks,
                limit: MAX_MASKS_LIMIT,
            });
        }
        Classifier::unchecked_bound(widths, max_masks, payload_len)
    }

    fn unchecked_bound(
        widths: Vec<u32>,
        max_masks: u32,
        payload_len: usize,
    ) -> Result<Classifier, ClassifyError> {
        if widths.len() > MAX_FIELDS {
            return Err(ClassifyError::TooManyFields {
                fields: widths.len(),
                max: MAX_FIELDS,
            });
        }
        if let Some((field, &width)) = widths
            .iter()
            .enumerate()
            .find(|(_, w)| !(1..=64).contains(*w))
        {
            return Err(ClassifyError::BadWidth { field, width });
        }
        Ok(Classifier {
            widths,
            max_masks,
            max_entries: DEFAULT_MAX_ENTRIES,
            payload_len,
            rules: HashMap::new(),
            tuples: Tuples::default(),
            entries: Entries::default(),
            expansions: 0,
        })
    }

    /// The same classifier with a rules-map budget of `max_entries` keys
    /// (the hash map's `max_entries`).
    pub fn with_max_entries(mut self, max_entries: u32) -> Classifier {
        self.max_entries = u64::from(max_entries);
        self
    }

    pub fn widths(&self) -> &[u32] {
        &self.widths
    }

    pub fn max_masks(&self) -> u32 {
        self.max_masks
    }

    pub fn max_entries(&self) -> u64 {
        self.max_entries
    }

    pub fn payload_len(&self) -> usize {
        self.payload_len
    }

    /// The rule of priority `prio`.
    pub fn get(&self, prio: u32) -> Option<&Rule> {
        self.rules.get(&prio).map(|s| &s.rule)
    }

    /// Every rule, highest priority first.
    pub fn rules(&self) -> Vec<&Rule> {
        let mut rules: Vec<&Rule> = self.rules.values().map(|s| &s.rule).collect();
        rules.sort_unstable_by_key(|r| std::cmp::Reverse(r.prio));
        rules
    }

    /// Adds a rule. On error nothing changes.
    pub fn insert(&mut self, rule: Rule) -> Result<Delta, ClassifyError> {
        self.check_rule(&rule)?;
        let expansion = Expansion::new(&self.widths, &rule.matches);
        self.check_room(&expansion)?;
        Ok(self.apply_insert(rule, &expansion))
    }

    fn check_rule(&self, rule: &Rule) -> Result<(), ClassifyError> {
        let (expected, got) = (self.widths.len(), rule.matches.len());
        if expected != got {
            return Err(ClassifyError::FieldCount { expected, got });
        }
        for (field, (&width, m)) in self.widths.iter().zip(&rule.matches).enumerate() {
            validate(field, width, m)?;
        }
        if self.rules.contains_key(&rule.prio) {
            return Err(ClassifyError::DuplicatePriority { prio: rule.prio });
        }
        if rule.payload.len() != self.payload_len {
            let (expected, got) = (self.payload_len, rule.payload.len());
            return Err(ClassifyError::PayloadLen { expected, got });
        }
        Ok(())
    }

    /// Whether the masks and the rules map have room for `expansion`.
    fn check_room(&self, expansion: &Expansion) -> Result<(), ClassifyError> {
        let current = self.entries.len() as u64;
        let count = expansion.count();
        if count > self.max_entries.max(EXACT_COUNT_LIMIT) {
            let needed = current.saturating_add(count);
            return Err(ClassifyError::TooManyEntries {
                needed,
                max: self.max_entries,
            });
        }
        let mut new_masks = 0;
        expansion.for_each_mask(|mask| new_masks += usize::from(self.tuples.id_of(mask).is_none()));
        let needed = self.tuples.live() + new_masks;
        if needed > self.max_masks as usize {
            return Err(ClassifyError::TooManyMasks {
                needed,
                max: self.max_masks,
            });
        }
        if current + count <= self.max_entries {
            return Ok(());
        }
        let needed = current + self.new_keys(expansion);
        if needed > self.max_entries {
            return Err(ClassifyError::TooManyEntries {
                needed,
                max: self.max_entries,
            });
        }
        Ok(())
    }

    /// How many of `expansion`'s keys the rules map does not hold yet.
    fn new_keys(&self, expansion: &Expansion) -> u64 {
        let mut key = Vec::with_capacity(self.widths.len() + 1);
        let mut new = 0;
        expansion.for_each(|mask, masked| match self.tuples.id_of(mask) {
            Some(id) => new += u64::from(!self.entries.contains(tuple_key(&mut key, id, masked))),
            None => new += 1,
        });
        new
    }

    fn apply_insert(&mut self, rule: Rule, expansion: &Expansion) -> Delta {
        let mut delta = Delta::default();
        let value = encode_value(rule.prio, rule.action, &rule.payload);
        let mut key = Vec::with_capacity(self.widths.len() + 1);
        let mut count = 0;
        expansion.for_each(|mask, masked| {
            let id = self.tuples.get_or_create(mask);
            delta.masks_changed |= self.tuples.add(id, rule.prio);
            if let Winner::Now(_) = self.entries.add(tuple_key(&mut key, id, masked), rule.prio) {
                delta.put.push((encode_key(id, masked), value.clone()));
            }
            count += 1;
        });
        self.expansions += count;
        self.rules.insert(
            rule.prio,
            Stored {
                rule,
                expansions: count,
            },
        );
        delta
    }

    /// Removes the rule of priority `prio`; the rules it shadowed come back.
    pub fn remove(&mut self, prio: u32) -> Result<Delta, ClassifyError> {
        let stored = self
            .rules
            .remove(&prio)
            .ok_or(ClassifyError::NoSuchRule { prio })?;
        let expansion = Expansion::new(&self.widths, &stored.rule.matches);
        let mut delta = Delta::default();
        let mut key = Vec::with_capacity(self.widths.len() + 1);
        expansion.for_each(|mask, masked| {
            let Some(id) = self.tuples.id_of(mask) else {
                return;
            };
            match self.entries.remove(tuple_key(&mut key, id, masked), prio) {
                Winner::Same => {}
                Winner::Gone => delta.del.push(encode_key(id, masked)),
                Winner::Now(next) => {
                    if let Some(r) = self.rules.get(&next).map(|s| &s.rule) {
                        let value = encode_value(r.prio, r.action, &r.payload);
                        delta.put.push((encode_key(id, masked), value));
                    }
                }
            }
            delta.masks_changed |= self.tuples.remove(id, prio);
        });
        self.expansions -= stored.expansions;
        Ok(delta)
    }

    /// The masks value: exactly `8 + M * (8 + 8n)` bytes.
    pub fn masks_image(&self) -> Vec<u8> {
        encode_masks(self.widths.len(), self.max_masks, self.tuples.slots())
    }

    /// The whole rules map as (key, value) bytes, sorted by key.
    pub fn entries(&self) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
        let mut out: Vec<(Vec<u8>, Vec<u8>)> = self
            .entries
            .iter()
            .filter_map(|(key, prio)| {
                let rule = &self.rules.get(&prio)?.rule;
                let (&id, masked) = key.split_first()?;
                let value = encode_value(prio, rule.action, &rule.payload);
                Some((encode_key(id as u32, masked), value))
            })
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out.into_iter()
    }

    /// The eBPF lookup of `key` (one value per field, within its width)
    /// over the state the images hold: tuples in probe order, stopping once
    /// a tuple's `max_prio` cannot beat the match found.
    pub fn lookup(&self, key: &[u64]) -> Option<&Rule> {
        if key.len() != self.widths.len() {
            return None;
        }
        let mut best: Option<u32> = None;
        let mut probe = vec![0u64; key.len() + 1];
        for slot in self.tuples.slots().take(self.max_masks as usize) {
            if best.is_some_and(|b| slot.max_prio <= b) {
                break;
            }
            probe[0] = u64::from(slot.tuple_id);
            probe[1..]
                .iter_mut()
                .zip(key.iter().zip(slot.mask))
                .for_each(|(p, (k, m))| *p = k & m);
            let found = self.entries.winner(&probe);
            if found.is_some_and(|f| best.is_none_or(|b| f > b)) {
                best = found;
            }
        }
        best.and_then(|p| self.get(p))
    }

    pub fn stats(&self) -> ClassifierStats {
        ClassifierStats {
            rules: self.rules.len(),
            entries: self.entries.len(),
            expansions: self.expansions,
            masks: self.tuples.live(),
            max_entries_per_rule: self.rules.values().map(|s| s.expansions).max().unwrap_or(0),
        }
    }
}

/// Fills `key` with a rules key `[tuple_id, masked...]`.
fn tuple_key<'k>(key: &'k mut Vec<u64>, id: u32, masked: &[u64]) -> &'k [u64] {
    key.clear();
    key.push(u64::from(id));
    key.extend_from_slice(masked);
    key
}

/// What `rules` need, for sizing the maps at build time: the stats of a
/// classifier holding all of them (`masks` is the mask bound they need,
/// `entries` the rules map's `max_entries`). Errors are those an insert
/// would report; expansions beyond [`CAPACITY_ENTRIES_LIMIT`] entries are
/// refused with `TooManyEntries`.
pub fn capacity(
    widths: &[u32],
    payload_len: usize,
    rules: &[Rule],
) -> Result<ClassifierStats, ClassifyError> {
    let mut classifier = Classifier::unchecked_bound(widths.to_vec(), u32::MAX, payload_len)?;
    classifier.max_entries = CAPACITY_ENTRIES_LIMIT;
    for rule in rules {
        classifier.insert(rule.clone())?;
    }
    Ok(classifier.stats())
}
