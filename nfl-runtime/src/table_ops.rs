//! `nflc table add|del|list` on a running NF: entries typed by the schema of
//! the program it runs now, written into its pinned maps under the run's
//! control-plane lock. A hash or LPM table takes one map entry per change; a
//! tuple-space table goes through its rule list and classifier
//! ([`crate::rules`]), with the delta applied in the documented order.

use nfl_compiler::config;
use nfl_compiler::entries::initial_maps;
use nfl_compiler::hir::{EntryHir, KeyMatch};
use nfl_compiler::table::{MatchKind, TableImpl, TableLayout};

use crate::cp_error::ControlError;
use crate::mapops;
use crate::nf::RunningNf;
use crate::rules::{self, StoredRule, TssMaps};
use crate::state::MapHandle;

/// `BPF_NOEXIST`: create only.
const UPDATE_NOEXIST: u64 = 1;

/// A table's keys and actions as the config reader wants them.
pub fn table_schema(t: &TableLayout) -> config::TableSchema {
    let kind = |k: MatchKind| match k {
        MatchKind::Exact => config::MatchKind::Exact,
        MatchKind::Lpm => config::MatchKind::Lpm,
        MatchKind::Ternary => config::MatchKind::Ternary,
        MatchKind::Range => config::MatchKind::Range,
    };
    config::TableSchema {
        name: t.name.clone(),
        keys: t.keys.iter().map(|k| config::KeySchema { name: k.name.clone(), width: k.width(), kind: kind(k.kind) }).collect(),
        actions: t
            .actions
            .iter()
            .map(|a| config::ActionSchema { name: a.name.clone(), params: a.params.iter().map(|p| (p.name.clone(), p.width)).collect() })
            .collect(),
    }
}

/// The config reader's match as the HIR writes it.
pub fn key_match(m: config::KeyMatch) -> KeyMatch {
    match m {
        config::KeyMatch::Exact(v) => KeyMatch::Exact(v),
        config::KeyMatch::Prefix { value, len } => KeyMatch::Prefix { value, len },
        config::KeyMatch::Ternary { value, mask } => KeyMatch::Ternary { value, mask },
        config::KeyMatch::Range { lo, hi } => KeyMatch::Range { lo, hi },
        config::KeyMatch::Any => KeyMatch::Any,
    }
}

/// An entry to add.
#[derive(Clone, Debug)]
pub struct NewEntry {
    pub matches: Vec<KeyMatch>,
    pub action: String,
    pub args: Vec<u64>,
    /// Tuple-space tables: above every rule when `None`.
    pub prio: Option<u32>,
}

/// Which entry to delete: by its matches, its priority, or both.
#[derive(Clone, Debug, Default)]
pub struct Selector {
    pub matches: Option<Vec<KeyMatch>>,
    pub prio: Option<u32>,
}

/// What a change did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub prio: u32,
    /// Kernel map element writes and deletes.
    pub map_ops: usize,
    /// The maps did not hold what the rule list gives and were rewritten.
    pub resynced: bool,
}

/// One entry of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub prio: u32,
    pub matches: Vec<KeyMatch>,
    pub action: String,
    pub args: Vec<(String, u64)>,
}

/// `nflc table list`.
#[derive(Clone, Debug)]
pub struct Listing {
    pub table: TableLayout,
    pub entries: Vec<Listed>,
    pub hits: u64,
    pub misses: u64,
}

/// A writable table of `nf`, or E0820/E0821.
fn dynamic<'n>(nf: &'n RunningNf, table: &str) -> Result<&'n TableLayout, ControlError> {
    let t = nf.table(table)?;
    if !t.dynamic {
        return Err(ControlError::StaticTable { nf: nf.name.clone(), table: table.to_string() });
    }
    Ok(t)
}

fn pinned(nf: &RunningNf, map: &str) -> Result<MapHandle, ControlError> {
    let m = nf.schema.map(map).ok_or_else(|| ControlError::Map {
        nf: nf.name.clone(),
        map: map.to_string(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })?;
    MapHandle::from_pin(&nf.pin_dir.join(map), m).map_err(ControlError::state(&nf.name))
}

/// The key and value bytes of a hash or LPM entry.
fn encode(t: &TableLayout, matches: &[KeyMatch], action: &str, args: &[u64], prio: u32) -> Result<(Vec<u8>, Vec<u8>), ControlError> {
    let index = t.actions.iter().position(|a| a.name == action).unwrap_or(0);
    let entry = EntryHir { matches: matches.to_vec(), action: index, args: args.to_vec() };
    let usage = |message: String| ControlError::Usage { message, help: "give each key as the table declares it".into() };
    let init = initial_maps(t, &[entry]).map_err(usage)?;
    let (key, mut value) = init.into_iter().next().and_then(|m| m.entries.into_iter().next()).ok_or_else(|| usage("no map entry".into()))?;
    if let Some(p) = value.get_mut(..4) {
        p.copy_from_slice(&prio.to_le_bytes());
    }
    Ok((key, value))
}

fn full(t: &TableLayout, message: String) -> ControlError {
    let help = format!("delete entries first, or raise `size {}` in the .nf and `nflc reload`", t.max_entries);
    ControlError::Full { table: t.name.clone(), message, help }
}

/// Add an entry to a dynamic table.
pub fn add(nf: &RunningNf, table: &str, e: &NewEntry) -> Result<Change, ControlError> {
    let t = dynamic(nf, table)?;
    let _lock = nf.lock()?;
    if matches!(t.imp, TableImpl::Tss { .. }) {
        return tss_add(nf, t, e);
    }
    let prio = e.prio.unwrap_or(1);
    let (key, value) = encode(t, &e.matches, &e.action, &e.args, prio)?;
    let h = pinned(nf, &t.rules_map)?;
    if mapops::lookup(h.fd(), h.shape, &key).map_err(ControlError::map(&nf.name, &t.rules_map))?.is_some() {
        let help = format!("`nflc table del {} {table} --match ...` first, then add it again", nf.name);
        return Err(ControlError::EntryExists { table: table.to_string(), what: "an entry for this key".into(), help });
    }
    match mapops::update(h.fd(), h.shape, &key, &value, UPDATE_NOEXIST) {
        Err(err) if matches!(err.raw_os_error(), Some(libc::E2BIG | libc::ENOSPC)) => {
            return Err(full(t, format!("all {} entries are in use", t.max_entries)));
        }
        other => other.map_err(ControlError::map(&nf.name, &t.rules_map))?,
    }
    Ok(Change { prio, map_ops: 1, resynced: false })
}

/// Delete an entry from a dynamic table.
pub fn del(nf: &RunningNf, table: &str, sel: &Selector) -> Result<Change, ControlError> {
    let t = dynamic(nf, table)?;
    let _lock = nf.lock()?;
    if matches!(t.imp, TableImpl::Tss { .. }) {
        return tss_del(nf, t, sel);
    }
    let Some(matches) = &sel.matches else {
        let message = format!("table `{table}` is keyed by exact values or prefixes: name the entry by its key");
        return Err(ControlError::Usage { message, help: "give every key with `--match KEY=VALUE`".into() });
    };
    let first = t.actions.first().map(|a| (a.name.clone(), vec![0; a.params.len()])).unwrap_or_default();
    let (key, _) = encode(t, matches, &first.0, &first.1, 0)?;
    let h = pinned(nf, &t.rules_map)?;
    let found = mapops::lookup(h.fd(), h.shape, &key).map_err(ControlError::map(&nf.name, &t.rules_map))?;
    let value = found.ok_or_else(|| no_entry(nf, t, "with these keys"))?;
    if let Some(p) = sel.prio.filter(|p| Some(*p) != t.decode_value(&value).map(|d| d.0)) {
        return Err(no_entry(nf, t, &format!("with these keys and priority {p}")));
    }
    mapops::delete(h.fd(), h.shape, &key).map_err(ControlError::map(&nf.name, &t.rules_map))?;
    Ok(Change { prio: t.decode_value(&value).map_or(0, |d| d.0), map_ops: 1, resynced: false })
}

fn no_entry(nf: &RunningNf, t: &TableLayout, what: &str) -> ControlError {
    ControlError::NoSuchEntry { nf: nf.name.clone(), table: t.name.clone(), what: what.to_string() }
}

/// The rule list of a tuple-space table (seeded from the schema if missing).
fn rule_list(nf: &RunningNf, t: &TableLayout) -> Result<Vec<StoredRule>, ControlError> {
    let stored = rules::load(&nf.name, &t.name).map_err(ControlError::map(&nf.name, &t.rules_map))?;
    Ok(stored.unwrap_or_else(|| rules::from_schema(&nf.schema, t)))
}

/// The classifier of `rules`, synced with the kernel's maps (rewriting them
/// when they had drifted).
fn synced(nf: &RunningNf, t: &TableLayout, maps: &TssMaps<'_>, list: &[StoredRule]) -> Result<(nfl_compiler::classify::Classifier, bool), ControlError> {
    let masks = t.masks_map.clone().unwrap_or_default();
    let schema_err = |message: String| ControlError::Schema { nf: nf.name.clone(), message, help: format!("the rule list {}/tables/{}.json is damaged", crate::pins::run_dir(&nf.name).display(), t.name) };
    let s = rules::sync(t, list, maps).map_err(schema_err)?;
    if s.resync {
        maps.write_all(&s.classifier).map_err(ControlError::map(&nf.name, &masks))?;
    }
    Ok((s.classifier, s.resync))
}

fn tss_add(nf: &RunningNf, t: &TableLayout, e: &NewEntry) -> Result<Change, ControlError> {
    let mut list = rule_list(nf, t)?;
    let prio = e.prio.unwrap_or_else(|| list.iter().map(|r| r.prio).max().unwrap_or(0).saturating_add(1));
    let exists = |what: String, help: &str| ControlError::EntryExists { table: t.name.clone(), what, help: help.to_string() };
    if list.iter().any(|r| r.prio == prio) {
        return Err(exists(format!("a rule of priority {prio}"), "priorities are unique in a table: choose another --priority, or leave it out to go above every rule"));
    }
    if let Some(r) = list.iter().find(|r| r.matches == e.matches) {
        return Err(exists(format!("a rule with these matches (priority {})", r.prio), "delete it first, or change the matches"));
    }
    let params = t.action(&e.action).map(|a| a.params.clone()).unwrap_or_default();
    let rule = StoredRule { prio, matches: e.matches.clone(), action: e.action.clone(), args: params.iter().map(|p| p.name.clone()).zip(e.args.iter().copied()).collect() };
    let (rules_h, masks_h) = (pinned(nf, &t.rules_map)?, pinned(nf, t.masks_map.as_deref().unwrap_or_default())?);
    let maps = TssMaps { rules: &rules_h, masks: &masks_h };
    let (mut c, resynced) = synced(nf, t, &maps, &list)?;
    let new = rules::to_rule(t, &rule).map_err(|message| ControlError::Usage { message, help: String::new() })?;
    let delta = c.insert(new).map_err(|err| full(t, err.to_string()))?;
    maps.apply(&delta, &c).map_err(ControlError::map(&nf.name, &t.rules_map))?;
    list.push(rule);
    rules::save(&nf.name, &t.name, &list).map_err(ControlError::map(&nf.name, &t.rules_map))?;
    Ok(Change { prio, map_ops: ops(&delta), resynced })
}

fn ops(d: &nfl_compiler::classify::Delta) -> usize {
    d.put.len() + d.del.len() + usize::from(d.masks_changed)
}

fn tss_del(nf: &RunningNf, t: &TableLayout, sel: &Selector) -> Result<Change, ControlError> {
    let mut list = rule_list(nf, t)?;
    let hit = |r: &&StoredRule| sel.prio.is_none_or(|p| r.prio == p) && sel.matches.as_ref().is_none_or(|m| *m == r.matches);
    let Some(prio) = list.iter().find(hit).map(|r| r.prio) else {
        let what = match (sel.prio, &sel.matches) {
            (Some(p), None) => format!("has priority {p}"),
            (Some(p), Some(_)) => format!("with these matches has priority {p}"),
            _ => "has these matches".to_string(),
        };
        return Err(no_entry(nf, t, &what));
    };
    let (rules_h, masks_h) = (pinned(nf, &t.rules_map)?, pinned(nf, t.masks_map.as_deref().unwrap_or_default())?);
    let maps = TssMaps { rules: &rules_h, masks: &masks_h };
    let (mut c, resynced) = synced(nf, t, &maps, &list)?;
    let delta = c.remove(prio).map_err(|err| no_entry(nf, t, &err.to_string()))?;
    maps.apply(&delta, &c).map_err(ControlError::map(&nf.name, &t.rules_map))?;
    list.retain(|r| r.prio != prio);
    rules::save(&nf.name, &t.name, &list).map_err(ControlError::map(&nf.name, &t.rules_map))?;
    Ok(Change { prio, map_ops: ops(&delta), resynced })
}

/// Per-CPU sums of the table's hit (0) and miss (1) packet counts.
pub fn hits_misses(maps: &(impl crate::state::MapRead + ?Sized), t: &TableLayout) -> (u64, u64) {
    let name = t.stats_map();
    let Ok(shape) = maps.shape_of(&name) else { return (0, 0) };
    let read = |i: u32| maps.lookup(&name, &i.to_le_bytes()).ok().flatten().map_or(0, |v| mapops::sum_per_cpu_u64(shape, &v, 0));
    (read(0), read(1))
}

/// Every entry of a table and its hit/miss counts.
pub fn list(nf: &RunningNf, table: &str) -> Result<Listing, ControlError> {
    let t = nf.table(table)?;
    let maps = nf.maps()?;
    let entries = if !t.dynamic {
        rules::from_schema(&nf.schema, t).into_iter().map(listed).collect()
    } else if rules::keeps_list(t) {
        rule_list(nf, t)?.into_iter().map(listed).collect()
    } else {
        decode_map(nf, t, maps.get(&t.rules_map).map_err(ControlError::state(&nf.name))?)?
    };
    let (hits, misses) = hits_misses(&maps, t);
    Ok(Listing { table: t.clone(), entries, hits, misses })
}

fn listed(r: StoredRule) -> Listed {
    Listed { prio: r.prio, matches: r.matches, action: r.action, args: r.args }
}

/// The entries of a hash or LPM table, read back from its map.
fn decode_map(nf: &RunningNf, t: &TableLayout, h: &MapHandle) -> Result<Vec<Listed>, ControlError> {
    let err = ControlError::map(&nf.name, &t.rules_map);
    let keys = mapops::keys(h.fd(), h.shape).map_err(err)?;
    let mut out = Vec::new();
    for key in keys {
        let value = mapops::lookup(h.fd(), h.shape, &key).map_err(ControlError::map(&nf.name, &t.rules_map))?;
        if let Some(l) = value.and_then(|v| decode_entry(t, &key, &v)) {
            out.push(l);
        }
    }
    out.sort_by(|a, b| b.prio.cmp(&a.prio).then_with(|| format!("{:?}", a.matches).cmp(&format!("{:?}", b.matches))));
    Ok(out)
}

fn decode_entry(t: &TableLayout, key: &[u8], value: &[u8]) -> Option<Listed> {
    let (fields, prefix) = t.decode_key(key)?;
    let (prio, action, args) = t.decode_value(value)?;
    let mut fields = fields.into_iter();
    let matches = t
        .keys
        .iter()
        .map(|k| {
            let v = k.widths.iter().fold(0u128, |acc, &w| acc << w | u128::from(fields.next().unwrap_or(0)));
            match (k.kind, prefix) {
                (MatchKind::Lpm, Some(len)) => KeyMatch::Prefix { value: v, len },
                _ => KeyMatch::Exact(v),
            }
        })
        .collect();
    let args = action.params.iter().map(|p| p.name.clone()).zip(args).collect();
    Some(Listed { prio, matches, action: action.name.clone(), args })
}
