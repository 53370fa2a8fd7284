//! Map contents of the kernel and the engine side by side, in one format
//! (the kernel's user-space view), for `nflc test --engine both` and the
//! differential tests.

use std::collections::BTreeMap;

use nfl_compiler::schema::{MapSchema, Schema};

use super::Engine;
use crate::load::LoadedProgram;

/// Map name to its sorted `(key, value)` pairs.
pub type Dump = BTreeMap<String, Vec<(Vec<u8>, Vec<u8>)>>;

/// Arrays with more slots than this are left out unless `all` is asked:
/// a dump lists every slot.
pub const SMALL_ARRAY: u32 = 1024;

/// The maps worth comparing: not prog arrays (program ids) nor queues
/// (user space cannot list them without popping).
fn compared(schema: &Schema, all: bool) -> impl Iterator<Item = &MapSchema> {
    schema
        .maps
        .iter()
        .filter(|m| !matches!(m.kind.as_str(), "prog_array" | "queue"))
        .filter(move |m| all || !m.kind.ends_with("array") || m.max_entries <= SMALL_ARRAY)
}

/// Blank what holds `bpf_ktime_get_ns` readings, which two runs never
/// share: a meter's whole value (its tokens refill with time) and an idle
/// map's last-seen stamp.
fn mask_time(schema: &Schema, map: &str, value: &mut [u8]) {
    if schema.meters.iter().any(|m| m.name == map) {
        value.fill(0);
    }
    if schema.state_maps.iter().any(|m| m.name == map && m.idle_ns.is_some()) && value.len() >= 16 {
        value[8..16].fill(0);
    }
}

/// The kernel's maps of `prog`.
pub fn kernel_dump(prog: &LoadedProgram, schema: &Schema, all: bool) -> Result<Dump, String> {
    let maps = crate::state::MapSet::from_loaded(prog, schema).map_err(|e| e.to_string())?;
    let mut out = Dump::new();
    for m in compared(schema, all) {
        let mut entries = maps.dump(&m.name).map_err(|e| format!("{}: {e}", m.name))?;
        for (_, v) in &mut entries {
            mask_time(schema, &m.name, v);
        }
        entries.sort();
        out.insert(m.name.clone(), entries);
    }
    Ok(out)
}

/// The engine's maps in the kernel's format: per-CPU values each padded
/// to 8 bytes, one after another.
pub fn engine_dump(engine: &mut Engine, schema: &Schema, all: bool) -> Result<Dump, String> {
    let mut out = Dump::new();
    for m in compared(schema, all) {
        let map = engine.maps().by_name(&m.name).ok_or_else(|| format!("the engine lacks map `{}`", m.name))?;
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = map
            .dump()
            .into_iter()
            .map(|(k, vals)| {
                let mut v = map.user_value(vals);
                mask_time(schema, &m.name, &mut v);
                (k, v)
            })
            .collect();
        entries.sort();
        out.insert(m.name.clone(), entries);
    }
    Ok(out)
}

/// The first difference between two dumps, readably, over the maps for
/// which `same_shape` holds (both builds declare them alike).
pub fn dump_diff(kernel: &Dump, engine: &Dump, same_shape: impl Fn(&str) -> bool) -> Option<String> {
    for (name, k) in kernel.iter().filter(|(n, _)| same_shape(n)) {
        let Some(e) = engine.get(name) else { continue };
        if k != e {
            let only_k = k.iter().find(|x| !e.contains(x));
            let only_e = e.iter().find(|x| !k.contains(x));
            return Some(format!(
                "map `{name}`: kernel has {} entries, engine {}; kernel's first not in the engine: {}; engine's first not in the kernel: {}",
                k.len(),
                e.len(),
                show(only_k),
                show(only_e)
            ));
        }
    }
    None
}

fn show(entry: Option<&(Vec<u8>, Vec<u8>)>) -> String {
    let hex = |b: &[u8]| b.iter().take(48).map(|x| format!("{x:02x}")).collect::<String>();
    match entry {
        Some((k, v)) => format!("key {} value {}{}", hex(k), hex(v), if v.len() > 48 { "…" } else { "" }),
        None => "none".into(),
    }
}

/// Whether map `name` has the same kind and sizes in both schemas.
pub fn same_shape(a: &Schema, b: &Schema, name: &str) -> bool {
    let shape = |s: &Schema| s.maps.iter().find(|m| m.name == name).map(|m| (m.kind.clone(), m.key_size, m.value_size, m.max_entries));
    shape(a) == shape(b)
}
