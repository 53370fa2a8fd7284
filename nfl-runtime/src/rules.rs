//! The control plane's rule list of a tuple-space table, kept as JSON in
//! `/run/nfl/<name>/tables/<table>.json` (seeded from the schema's entries
//! when the run starts), and the [`Classifier`] that turns it into the
//! kernel's images.
//!
//! Each `nflc table` command is a separate process, so the classifier is
//! rebuilt from the list every time. Tuple ids depend on the history of
//! inserts and removes, so a rebuild first reserves the ids the kernel's
//! masks image already uses (placeholder rules, one per id, removed again
//! once the real rules are in): the rebuilt classifier then describes the
//! kernel's maps exactly, and its [`Delta`]s are safe to apply. When it does
//! not (someone wrote the maps by hand), [`Synced::resync`] writes it all.

use std::collections::HashSet;
use std::io;
use std::path::PathBuf;

use nfl_compiler::classify::{self, Classifier, ClassifyError, Delta, FieldMatch, Rule};
use nfl_compiler::hir::KeyMatch;
use nfl_compiler::schema::Schema;
use nfl_compiler::table::{TableImpl, TableLayout};
use serde::{Deserialize, Serialize};

use crate::mapops;
use crate::state::MapHandle;

/// One rule as the control plane keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRule {
    /// Unique in the table; higher wins.
    pub prio: u32,
    /// One per key.
    pub matches: Vec<KeyMatch>,
    pub action: String,
    /// By parameter name, so that a reload can re-encode them for new layouts.
    pub args: Vec<(String, u64)>,
}

/// Whether a table is one whose rules the control plane lists itself.
pub fn keeps_list(t: &TableLayout) -> bool {
    t.dynamic && matches!(t.imp, TableImpl::Tss { .. })
}

fn path(name: &str, table: &str) -> PathBuf {
    crate::pins::tables_dir(name).join(format!("{table}.json"))
}

/// The rules of `table` as the build knows them, highest priority first.
pub fn from_schema(schema: &Schema, t: &TableLayout) -> Vec<StoredRule> {
    let mut rules: Vec<StoredRule> = schema
        .entries
        .iter()
        .filter(|e| e.table == t.name)
        .map(|e| {
            let params = t.action(&e.action).map(|a| a.params.as_slice()).unwrap_or_default();
            let args = params.iter().zip(&e.args).map(|(p, v)| (p.name.clone(), *v)).collect();
            StoredRule { prio: e.prio, matches: e.matches.clone(), action: e.action.clone(), args }
        })
        .collect();
    rules.sort_by_key(|r| std::cmp::Reverse(r.prio));
    rules
}

/// The saved list of `table` of run `name`; `None` when there is none.
pub fn load(name: &str, table: &str) -> io::Result<Option<Vec<StoredRule>>> {
    match std::fs::read(path(name, table)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(io::Error::other),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Save the list (atomically), highest priority first.
pub fn save(name: &str, table: &str, rules: &[StoredRule]) -> io::Result<()> {
    let dir = crate::pins::tables_dir(name);
    std::fs::create_dir_all(&dir)?;
    let mut sorted = rules.to_vec();
    sorted.sort_by_key(|r| std::cmp::Reverse(r.prio));
    let json = serde_json::to_vec_pretty(&sorted).map_err(io::Error::other)?;
    crate::record::write_atomic(&dir, &format!("{table}.json"), &json)
}

pub fn forget(name: &str, table: &str) {
    let _ = std::fs::remove_file(path(name, table));
}

/// The list re-encoded for a table's (new) layout: arguments by parameter
/// name, a parameter the rule does not give is 0. `Err` names the action
/// that no longer exists.
pub fn adapt(rule: &StoredRule, t: &TableLayout) -> Result<StoredRule, String> {
    let action = t.action(&rule.action).ok_or_else(|| rule.action.clone())?;
    let args = action
        .params
        .iter()
        .map(|p| (p.name.clone(), rule.args.iter().find(|(n, _)| *n == p.name).map_or(0, |(_, v)| *v)))
        .collect();
    Ok(StoredRule { args, ..rule.clone() })
}

/// The classifier rule of a stored rule.
pub fn to_rule(t: &TableLayout, r: &StoredRule) -> Result<Rule, String> {
    let action = t.action(&r.action).ok_or_else(|| format!("table `{}` has no action `{}`", t.name, r.action))?;
    let args: Vec<u64> = action.params.iter().map(|p| r.args.iter().find(|(n, _)| *n == p.name).map_or(0, |(_, v)| *v)).collect();
    let value = t.value(r.prio, action, &args);
    let matches = t.keys.iter().zip(&r.matches).flat_map(|(k, m)| nfl_compiler::entries::field_matches(&k.widths, m)).collect();
    Ok(Rule { matches, prio: r.prio, action: action.id, payload: value.get(8..).unwrap_or_default().to_vec() })
}

fn widths(t: &TableLayout) -> Vec<u32> {
    t.keys.iter().flat_map(|k| k.widths.iter().copied()).collect()
}

fn max_masks(t: &TableLayout) -> u32 {
    match t.imp {
        TableImpl::Tss { masks } => masks,
        _ => 0,
    }
}

/// An empty classifier shaped for table `t`.
pub fn empty(t: &TableLayout) -> Result<Classifier, ClassifyError> {
    let c = Classifier::new(widths(t), max_masks(t), t.value_size.saturating_sub(8) as usize)?;
    Ok(c.with_max_entries(t.max_entries))
}

/// A classifier holding `rules`, built afresh (for new maps).
pub fn build(t: &TableLayout, rules: &[StoredRule]) -> Result<Classifier, String> {
    let mut c = empty(t).map_err(|e| e.to_string())?;
    for r in rules {
        c.insert(to_rule(t, r)?).map_err(|e| format!("rule of priority {}: {e}", r.prio))?;
    }
    Ok(c)
}

/// `(tuple_id, mask)` of each live slot of a masks image.
fn image_slots(image: &[u8], fields: usize) -> Vec<(u32, Vec<u64>)> {
    let word = |at: usize| image.get(at..at + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let count = word(0) as usize;
    let size = classify::image::slot_size(fields);
    (0..count)
        .map(|i| 8 + i * size)
        .filter(|&at| image.len() >= at + size)
        .map(|at| {
            let mask = (0..fields).map(|f| image.get(at + 8 + 8 * f..at + 16 + 8 * f).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))).collect();
            (word(at + 4), mask)
        })
        .collect()
}

/// The `n`-th mask vector (n ≥ 1) that no live tuple uses, as field masks
/// within their widths: the bits of `n` spread over the fields.
fn spare_mask(widths: &[u32], n: u64) -> Vec<u64> {
    let mut rest = n;
    widths
        .iter()
        .map(|&w| {
            let m = rest & classify::expand::width_mask(w);
            rest = rest.checked_shr(w).unwrap_or(0);
            m
        })
        .collect()
}

fn placeholder(mask: &[u64], prio: u32, payload_len: usize) -> Rule {
    let matches = mask.iter().map(|&m| if m == 0 { FieldMatch::Any } else { FieldMatch::Ternary { value: 0, mask: m } }).collect();
    Rule { matches, prio, action: 0, payload: vec![0; payload_len] }
}

/// A classifier holding `rules` whose tuple ids are those of the kernel's
/// masks `image` (see the module comment).
pub fn rebuild(t: &TableLayout, rules: &[StoredRule], image: &[u8]) -> Result<Classifier, String> {
    let widths = widths(t);
    let slots = image_slots(image, widths.len());
    let live: HashSet<Vec<u64>> = slots.iter().map(|(_, m)| m.clone()).collect();
    let top = slots.iter().map(|(id, _)| *id + 1).max().unwrap_or(0);
    let used: HashSet<u32> = rules.iter().map(|r| r.prio).collect();
    let mut free_prios = (1..=u32::MAX).rev().filter(|p| !used.contains(p));
    let payload_len = t.value_size.saturating_sub(8) as usize;
    let mut c = empty(t).map_err(|e| e.to_string())?.with_max_entries(t.max_entries.saturating_add(top));
    let mut spares = (1u64..).map(|n| spare_mask(&widths, n)).filter(|m| !live.contains(m) && m.iter().any(|&x| x != 0));
    let mut placeholders = Vec::new();
    for id in 0..top {
        let mask = match slots.iter().find(|(i, _)| *i == id) {
            Some((_, m)) => m.clone(),
            None => spares.next().ok_or("no spare mask for a free tuple id")?,
        };
        let prio = free_prios.next().ok_or("no free priority")?;
        c.insert(placeholder(&mask, prio, payload_len)).map_err(|e| e.to_string())?;
        placeholders.push(prio);
    }
    for r in rules {
        c.insert(to_rule(t, r)?).map_err(|e| format!("rule of priority {}: {e}", r.prio))?;
    }
    for p in placeholders {
        c.remove(p).map_err(|e| e.to_string())?;
    }
    Ok(c.with_max_entries(t.max_entries))
}

/// A table's two maps.
pub struct TssMaps<'m> {
    pub rules: &'m MapHandle,
    pub masks: &'m MapHandle,
}

fn masks_key() -> [u8; 4] {
    0u32.to_le_bytes()
}

impl TssMaps<'_> {
    /// The masks image the kernel holds now.
    pub fn image(&self) -> io::Result<Vec<u8>> {
        Ok(mapops::lookup(self.masks.fd(), self.masks.shape, &masks_key())?.unwrap_or_default())
    }

    /// Apply one delta in the documented order: puts, the masks image, dels.
    pub fn apply(&self, delta: &Delta, c: &Classifier) -> io::Result<()> {
        for (k, v) in &delta.put {
            mapops::update(self.rules.fd(), self.rules.shape, k, v, mapops::UPDATE_ANY)?;
        }
        if delta.masks_changed {
            mapops::update(self.masks.fd(), self.masks.shape, &masks_key(), &c.masks_image(), mapops::UPDATE_ANY)?;
        }
        for k in &delta.del {
            mapops::delete(self.rules.fd(), self.rules.shape, k)?;
        }
        Ok(())
    }

    /// Make the maps hold exactly what `c` describes: every entry, the masks
    /// image, then the removal of entries it does not have.
    pub fn write_all(&self, c: &Classifier) -> io::Result<()> {
        let want: Vec<(Vec<u8>, Vec<u8>)> = c.entries().collect();
        let keys: HashSet<&[u8]> = want.iter().map(|(k, _)| k.as_slice()).collect();
        let stale: Vec<Vec<u8>> = mapops::keys(self.rules.fd(), self.rules.shape)?.into_iter().filter(|k| !keys.contains(k.as_slice())).collect();
        let delta = Delta { put: want.clone(), del: stale, masks_changed: true };
        self.apply(&delta, c)
    }
}

/// A classifier rebuilt against the kernel, and whether it matched.
pub struct Synced {
    pub classifier: Classifier,
    /// The kernel's masks image was not what the rules give: the maps must
    /// be rewritten ([`TssMaps::write_all`]) before any delta.
    pub resync: bool,
}

/// Rebuild `rules` against the kernel's current images.
pub fn sync(t: &TableLayout, rules: &[StoredRule], maps: &TssMaps<'_>) -> Result<Synced, String> {
    let image = maps.image().map_err(|e| e.to_string())?;
    match rebuild(t, rules, &image) {
        Ok(c) if c.masks_image() == image => Ok(Synced { classifier: c, resync: false }),
        _ => Ok(Synced { classifier: build(t, rules)?, resync: true }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nfl_compiler::table::{KeySpec, MatchKind, layout};

    fn table() -> TableLayout {
        let keys = vec![
            KeySpec { name: "ipv4.src".into(), kind: MatchKind::Ternary, widths: vec![32] },
            KeySpec { name: "meta.dport".into(), kind: MatchKind::Range, widths: vec![16] },
        ];
        let actions = vec![("allow".into(), vec![]), ("mark".into(), vec![("port".into(), 16)])];
        layout("acl", TableImpl::Tss { masks: 16 }, keys, actions, 256, true)
    }

    fn rule(prio: u32, src: u128, len: u32, lo: u128, hi: u128) -> StoredRule {
        let mask = if len == 0 { 0 } else { (u128::from(u32::MAX) << (32 - len)) & u128::from(u32::MAX) };
        StoredRule {
            prio,
            matches: vec![KeyMatch::Ternary { value: src & mask, mask }, KeyMatch::Range { lo, hi }],
            action: "mark".into(),
            args: vec![("port".into(), u64::from(prio))],
        }
    }

    /// After inserts and removes in any order, a rebuild from the list and
    /// the kernel's masks image describes the same maps as the history did.
    #[test]
    fn rebuild_matches_the_history() {
        let t = table();
        let all = [rule(5, 0xc612_0000, 16, 0, 65535), rule(4, 0, 0, 80, 80), rule(3, 0xc612_0100, 24, 1000, 1999), rule(2, 0, 0, 0, 1023)];
        let mut live = empty(&t).expect("classifier");
        let mut list: Vec<StoredRule> = Vec::new();
        for (step, r) in all.iter().enumerate() {
            live.insert(to_rule(&t, r).expect("rule")).expect("insert");
            list.push(r.clone());
            if step == 2 {
                live.remove(4).expect("remove");
                list.retain(|x| x.prio != 4);
            }
        }
        live.remove(5).expect("remove");
        list.retain(|x| x.prio != 5);
        let image = live.masks_image();
        let again = rebuild(&t, &list, &image).expect("rebuild");
        assert_eq!(again.masks_image(), image);
        assert_eq!(again.entries().collect::<Vec<_>>(), live.entries().collect::<Vec<_>>());
        assert!(build(&t, &list).expect("build").masks_image() != image, "the test must exercise moved ids");
    }

    #[test]
    fn adapt_takes_arguments_by_name() {
        let t = table();
        let r = StoredRule { prio: 1, matches: vec![KeyMatch::Any, KeyMatch::Any], action: "mark".into(), args: vec![] };
        assert_eq!(adapt(&r, &t).expect("adapt").args, vec![("port".to_string(), 0)]);
        let gone = StoredRule { action: "deny".into(), ..r };
        assert_eq!(adapt(&gone, &t), Err("deny".to_string()));
    }
}
