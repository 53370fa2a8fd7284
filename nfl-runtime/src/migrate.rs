//! Filling the maps a reload creates, before the new program is loaded
//! against them: copies from the running program's maps (which it keeps
//! using until the swap), values re-encoded for changed actions, and
//! tuple-space tables rebuilt from their rule lists.
//!
//! Copies are made while the old program runs: what it counts between the
//! copy and the swap (a few milliseconds) is lost for migrated maps only;
//! kept maps lose nothing.

use std::io;

use nfl_compiler::table::TableLayout;

use crate::mapops;
use crate::rules::{self, StoredRule, TssMaps};
use crate::state::MapHandle;

fn nonzero(v: &[u8]) -> bool {
    v.iter().any(|&b| b != 0)
}

/// Copy cells `0..min(old, new)` of an array by index (per-CPU values as
/// they are). Says how many cells that counted did not fit.
pub fn cells(from: &MapHandle, to: &MapHandle, old: u32, new: u32) -> io::Result<String> {
    let mut dropped = 0;
    for i in 0..old {
        let Some(v) = mapops::lookup(from.fd(), from.shape, &i.to_le_bytes())? else { continue };
        if i < new {
            mapops::update(to.fd(), to.shape, &i.to_le_bytes(), &v, mapops::UPDATE_ANY)?;
        } else if nonzero(&v) {
            dropped += 1;
        }
    }
    Ok(match (old > new, dropped) {
        (false, _) => format!("{old} -> {new} cells, all copied"),
        (true, 0) => format!("{old} -> {new} cells; the {} cut off had counted nothing", old - new),
        (true, n) => format!("{old} -> {new} cells; DROPPED {n} cell(s) that had counted (indexes {new}..{old})"),
    })
}

/// Copy every entry as it is (a map that grew).
pub fn entries(from: &MapHandle, to: &MapHandle) -> io::Result<String> {
    let mut n = 0;
    for key in mapops::keys(from.fd(), from.shape)? {
        if let Some(v) = mapops::lookup(from.fd(), from.shape, &key)? {
            mapops::update(to.fd(), to.shape, &key, &v, mapops::UPDATE_ANY)?;
            n += 1;
        }
    }
    Ok(format!("{n} entries copied"))
}

/// Copy a hash or LPM table's entries, re-encoding each value by action and
/// parameter name (a parameter the old action did not have is 0; an entry
/// whose action is gone is dropped).
pub fn values(old: &TableLayout, new: &TableLayout, from: &MapHandle, to: &MapHandle) -> io::Result<String> {
    let (mut copied, mut gone, mut zeroed, mut full) = (0, 0, 0, 0);
    for key in mapops::keys(from.fd(), from.shape)? {
        let Some(v) = mapops::lookup(from.fd(), from.shape, &key)? else { continue };
        let Some((prio, action, args)) = old.decode_value(&v) else { continue };
        let Some(na) = new.action(&action.name) else {
            gone += 1;
            continue;
        };
        let by_name = |p: &str| action.params.iter().zip(&args).find(|(q, _)| q.name == p).map(|(_, v)| *v);
        zeroed += na.params.iter().filter(|p| by_name(&p.name).is_none()).count();
        let new_args: Vec<u64> = na.params.iter().map(|p| by_name(&p.name).unwrap_or(0)).collect();
        match mapops::update(to.fd(), to.shape, &key, &new.value(prio, na, &new_args), mapops::UPDATE_ANY) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::E2BIG | libc::ENOSPC)) => full += 1,
            other => other.map(|()| copied += 1)?,
        }
    }
    let mut detail = format!("{copied} entries re-encoded");
    for (n, what) in [(gone, "DROPPED (their action is gone)"), (zeroed, "new parameter(s) set to 0"), (full, "DROPPED (no room)")] {
        if n > 0 {
            detail.push_str(&format!("; {n} {what}"));
        }
    }
    Ok(detail)
}

/// Rebuild a tuple-space table from its rule list for the new layout: the
/// rules that still fit, and what to say. `Err` when the rules need more
/// room than the new table has.
pub fn rules(new: &TableLayout, list: &[StoredRule], to: &TssMaps<'_>) -> Result<(Vec<StoredRule>, String), String> {
    let mut kept = Vec::new();
    let mut gone = Vec::new();
    for r in list {
        match rules::adapt(r, new) {
            Ok(a) => kept.push(a),
            Err(action) => gone.push(format!("priority {} ({action})", r.prio)),
        }
    }
    let c = rules::build(new, &kept)?;
    to.write_all(&c).map_err(|e| e.to_string())?;
    let mut detail = format!("{} rule(s) rebuilt into {} entries", kept.len(), c.stats().entries);
    if !gone.is_empty() {
        detail.push_str(&format!("; DROPPED {} whose action is gone: {}", gone.len(), gone.join(", ")));
    }
    Ok((kept, detail))
}
