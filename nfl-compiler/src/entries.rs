//! Table entries known at build time, turned into what the kernel maps must
//! hold before the program runs. Priorities: the first entry listed wins,
//! so entry `i` of `n` gets priority `n - i` (all at least 1).

use crate::classify::{self, Classifier, FieldMatch, Rule};
use crate::hir::{EntryHir, KeyMatch};
use crate::schema::MapInit;
use crate::table::{KeySpec, MatchKind, TableImpl, TableLayout};

fn ones(w: u32) -> u128 {
    if w >= 128 { u128::MAX } else { (1u128 << w) - 1 }
}

/// Split one key's match over its fields (most significant first).
pub fn field_matches(widths: &[u32], m: &KeyMatch) -> Vec<FieldMatch> {
    let total: u32 = widths.iter().sum();
    let (value, mask) = match *m {
        KeyMatch::Any => return widths.iter().map(|_| FieldMatch::Any).collect(),
        KeyMatch::Range { lo, hi } => return vec![FieldMatch::Range { lo: lo as u64, hi: hi as u64 }],
        KeyMatch::Exact(v) => (v, ones(total)),
        KeyMatch::Prefix { value, len } => {
            let len = len.min(total);
            (value, ones(total) & !(ones(total - len)))
        }
        KeyMatch::Ternary { value, mask } => (value, mask),
    };
    let mut shift = total;
    widths
        .iter()
        .map(|&w| {
            shift -= w;
            let fm = ((mask >> shift) & ones(w)) as u64;
            let fv = ((value >> shift) & ones(w)) as u64 & fm;
            if fm == 0 {
                FieldMatch::Any
            } else if u128::from(fm) == ones(w) {
                FieldMatch::Exact(fv)
            } else {
                FieldMatch::Ternary { value: fv, mask: fm }
            }
        })
        .collect()
}

fn field_widths(keys: &[KeySpec]) -> Vec<u32> {
    keys.iter().flat_map(|k| k.widths.iter().copied()).collect()
}

/// The priority of entry `i` of `n` (the first listed is highest).
pub fn prio(i: usize, n: usize) -> u32 {
    u32::try_from(n - i).unwrap_or(u32::MAX)
}

/// The classifier rules of a tuple-space table's entries (payloads empty
/// here; see [`initial_maps`] for the real values).
fn tss_rules(keys: &[KeySpec], entries: &[EntryHir], payload: impl Fn(&EntryHir) -> (u32, Vec<u8>)) -> Vec<Rule> {
    let n = entries.len();
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let matches = keys.iter().zip(&e.matches).flat_map(|(k, m)| field_matches(&k.widths, m)).collect();
            let (action, payload) = payload(e);
            Rule { matches, prio: prio(i, n), action, payload }
        })
        .collect()
}

/// The mask bound a tuple-space table's entries need (0 when the
/// classifier refuses them; the table's own bound then reports it).
pub fn tss_masks_needed(keys: &[KeySpec], entries: &[EntryHir]) -> u32 {
    let rules = tss_rules(keys, entries, |e| (e.action as u32, Vec::new()));
    classify::capacity(&field_widths(keys), 0, &rules).map_or(0, |s| s.masks as u32)
}

/// Map entries the table's entries need.
pub fn entries_needed(keys: &[KeySpec], entries: &[EntryHir], imp: TableImpl) -> u32 {
    match imp {
        TableImpl::Tss { .. } => {
            let rules = tss_rules(keys, entries, |e| (e.action as u32, Vec::new()));
            classify::capacity(&field_widths(keys), 0, &rules).map_or(u32::MAX, |s| s.entries as u32)
        }
        _ => u32::try_from(entries.len()).unwrap_or(u32::MAX),
    }
}

/// Per-slot field values of an exact/LPM entry and its lpm prefix length.
fn slot_values(t: &TableLayout, e: &EntryHir) -> Result<(Vec<u64>, u32), String> {
    let mut values = Vec::new();
    let mut prefix = 0;
    for (k, m) in t.keys.iter().zip(&e.matches) {
        let total = k.width();
        let (v, len) = match (*m, k.kind) {
            (KeyMatch::Exact(v), MatchKind::Exact) => (v, total),
            (KeyMatch::Prefix { value, len }, MatchKind::Lpm) => (value & !ones(total - len.min(total)), len.min(total)),
            (KeyMatch::Exact(v), MatchKind::Lpm) => (v, total),
            (KeyMatch::Any, MatchKind::Lpm) => (0, 0),
            (m, kind) => return Err(format!("entry match {m:?} does not suit a {} key", kind.name())),
        };
        if k.kind == MatchKind::Lpm {
            prefix = len;
        }
        let mut shift = total;
        for &w in &k.widths {
            shift -= w;
            values.push(((v >> shift) & ones(w)) as u64);
        }
    }
    Ok((values, prefix))
}

/// What the table's maps must hold before the program is attached.
pub fn initial_maps(t: &TableLayout, entries: &[EntryHir]) -> Result<Vec<MapInit>, String> {
    let n = entries.len();
    let value = |i: usize, e: &EntryHir| -> Result<Vec<u8>, String> {
        let a = t.actions.get(e.action).ok_or("entry names an unknown action")?;
        Ok(t.value(prio(i, n), a, &e.args))
    };
    match t.imp {
        TableImpl::Inline => Ok(Vec::new()),
        TableImpl::Hash | TableImpl::Lpm => {
            let mut out = Vec::new();
            for (i, e) in entries.iter().enumerate() {
                let (values, prefix) = slot_values(t, e)?;
                let key = if t.imp == TableImpl::Lpm { t.lpm_key(&values, prefix) } else { t.hash_key(&values) };
                // The first listed entry wins a duplicate key.
                if !out.iter().any(|(k, _)| *k == key) {
                    out.push((key, value(i, e)?));
                }
            }
            Ok(vec![MapInit { map: t.rules_map.clone(), entries: out }])
        }
        TableImpl::Tss { masks } => {
            let payload_len = (t.value_size - 8) as usize;
            let mut c = Classifier::new(field_widths(&t.keys), masks, payload_len)
                .map_err(|e| e.to_string())?
                .with_max_entries(t.max_entries);
            let rules = tss_rules(&t.keys, entries, |e| {
                let v = t.actions.get(e.action).map(|a| t.value(0, a, &e.args)).unwrap_or_default();
                (e.action as u32, v.get(8..).map(<[u8]>::to_vec).unwrap_or_default())
            });
            for r in rules {
                c.insert(r).map_err(|e| e.to_string())?;
            }
            Ok(vec![
                MapInit { map: t.rules_map.clone(), entries: c.entries().collect() },
                MapInit { map: t.masks_map.clone().unwrap_or_default(), entries: vec![(0u32.to_le_bytes().to_vec(), c.masks_image())] },
            ])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuple_prefix_splits_across_fields() {
        let m = KeyMatch::Prefix { value: 0x2001_0db8u128 << 96, len: 32 };
        assert_eq!(
            field_matches(&[64, 64], &m),
            vec![FieldMatch::Ternary { value: 0x2001_0db8_0000_0000, mask: 0xffff_ffff_0000_0000 }, FieldMatch::Any]
        );
        let full = KeyMatch::Prefix { value: 5, len: 128 };
        assert_eq!(field_matches(&[64, 64], &full), vec![FieldMatch::Exact(0), FieldMatch::Exact(5)]);
    }
}
