//! Keyed state maps read back (`nflc state dump`): keys split into their
//! fields, the value, and for maps with an idle timeout the entry's age and
//! whether it has expired; and the sweep that deletes expired entries.
//!
//! An idle map's value is `{value: u64, last_seen_ns: u64}`, stamped with
//! `bpf_ktime_get_ns()`, which is CLOCK_MONOTONIC: ages are measured
//! against the same clock here.

use std::io;

use nfl_compiler::schema::{Schema, StateMapSchema};

use crate::cp_error::ControlError;
use crate::mapops;
use crate::nf::{RunningNf, suggest};
use crate::state::{MapHandle, MapSet};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateEntry {
    /// One value per key field.
    pub key: Vec<u64>,
    pub value: u64,
    /// Since the program last touched it (idle maps only).
    pub age_ns: Option<u64>,
    /// Older than the idle timeout: the program reads it as absent, and the
    /// run's sweep deletes it.
    pub expired: bool,
}

#[derive(Clone, Debug)]
pub struct StateDump {
    pub map: StateMapSchema,
    pub entries: Vec<StateEntry>,
}

/// CLOCK_MONOTONIC in nanoseconds, the clock of `bpf_ktime_get_ns`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

fn le(bytes: &[u8], off: usize, n: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(src) = bytes.get(off..off + n.min(8)) {
        b[..src.len()].copy_from_slice(src);
    }
    u64::from_le_bytes(b)
}

/// One entry of `m`; `now` is CLOCK_MONOTONIC.
pub fn decode(m: &StateMapSchema, key: &[u8], value: &[u8], now: u64) -> StateEntry {
    let fields = m.key_slots.iter().map(|&(off, bytes)| le(key, off as usize, bytes as usize)).collect();
    let age_ns = m.idle_ns.map(|_| now.saturating_sub(le(value, 8, 8)));
    let expired = matches!((age_ns, m.idle_ns), (Some(age), Some(idle)) if age > idle);
    StateEntry { key: fields, value: le(value, 0, 8), age_ns, expired }
}

fn read_map(h: &MapHandle, m: &StateMapSchema) -> io::Result<Vec<StateEntry>> {
    let mut out = Vec::new();
    for key in mapops::keys(h.fd(), h.shape)? {
        if let Some(v) = mapops::lookup(h.fd(), h.shape, &key)? {
            out.push(decode(m, &key, &v, monotonic_ns()));
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// The state maps of `nf` (or only `only`), decoded.
pub fn dump(nf: &RunningNf, only: Option<&str>) -> Result<Vec<StateDump>, ControlError> {
    if let Some(name) = only.filter(|n| !nf.schema.state_maps.iter().any(|m| m.name == *n)) {
        let help = suggest(name, "state maps", nf.schema.state_maps.iter().map(|m| m.name.as_str()));
        return Err(ControlError::UnknownMap { nf: nf.name.clone(), map: name.to_string(), help });
    }
    let maps = nf.maps()?;
    let mut out = Vec::new();
    for m in nf.schema.state_maps.iter().filter(|m| only.is_none_or(|o| o == m.name)) {
        let h = maps.get(&m.name).map_err(ControlError::state(&nf.name))?;
        let entries = read_map(h, m).map_err(ControlError::map(&nf.name, &m.name))?;
        out.push(StateDump { map: m.clone(), entries });
    }
    Ok(out)
}

/// Delete the expired entries of every idle map; how many went, per map.
/// Each entry is read again just before it is deleted, so one the program
/// refreshed since the walk stays.
pub fn sweep(maps: &MapSet, schema: &Schema) -> io::Result<Vec<(String, usize)>> {
    let mut out = Vec::new();
    for m in schema.state_maps.iter().filter(|m| m.idle_ns.is_some()) {
        let Ok(h) = maps.get(&m.name) else { continue };
        let mut gone = 0;
        for key in mapops::keys(h.fd(), h.shape)? {
            let still = mapops::lookup(h.fd(), h.shape, &key)?.is_some_and(|v| decode(m, &key, &v, monotonic_ns()).expired);
            if still && mapops::delete(h.fd(), h.shape, &key)? {
                gone += 1;
            }
        }
        out.push((m.name.clone(), gone));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_decode_with_age() {
        let m = StateMapSchema { name: "flows".into(), key_widths: vec![32, 16], key_slots: vec![(0, 4), (4, 2)], value_width: 64, idle_ns: Some(1_000) };
        let mut key = 0xc612_0001u32.to_le_bytes().to_vec();
        key.extend(443u16.to_le_bytes());
        key.extend([0, 0]);
        let mut value = 7u64.to_le_bytes().to_vec();
        value.extend(5_000u64.to_le_bytes());
        let e = decode(&m, &key, &value, 5_500);
        assert_eq!(e, StateEntry { key: vec![0xc612_0001, 443], value: 7, age_ns: Some(500), expired: false });
        assert!(decode(&m, &key, &value, 7_000).expired);
        let plain = StateMapSchema { idle_ns: None, ..m };
        assert_eq!(decode(&plain, &key, &value[..8], 0).age_ns, None);
    }
}
