//! The plain classifier every other one is checked against.

use super::expand::prefix_mask;
use super::{FieldMatch, Rule};

impl FieldMatch {
    /// Whether `key` (a field of `width` bits) matches.
    pub fn matches(&self, width: u32, key: u64) -> bool {
        match *self {
            FieldMatch::Exact(v) => key == v,
            FieldMatch::Prefix { value, len } => {
                let mask = prefix_mask(width, len.min(width));
                key & mask == value & mask
            }
            FieldMatch::Ternary { value, mask } => key & mask == value & mask,
            FieldMatch::Range { lo, hi } => lo <= key && key <= hi,
            FieldMatch::Any => true,
        }
    }
}

impl Rule {
    /// Whether every field of `key` matches (`widths` give the fields'
    /// widths, which prefixes need).
    pub fn matches(&self, widths: &[u32], key: &[u64]) -> bool {
        self.matches.len() == key.len()
            && widths.len() == key.len()
            && self
                .matches
                .iter()
                .zip(widths)
                .zip(key)
                .all(|((m, &w), &k)| m.matches(w, k))
    }
}

/// A linear scan: the highest-priority rule whose every field matches
/// `key`. `widths` are the fields' widths (a prefix length counts from the
/// top of its field).
pub fn reference_lookup<'r>(widths: &[u32], rules: &'r [Rule], key: &[u64]) -> Option<&'r Rule> {
    let mut best: Option<&Rule> = None;
    for rule in rules {
        if best.is_none_or(|b| rule.prio > b.prio) && rule.matches(widths, key) {
            best = Some(rule);
        }
    }
    best
}
