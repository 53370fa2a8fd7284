//! The program's own description of its state: every map with its layout,
//! every table with its key and action layouts, counters, state maps, the
//! config values it was specialized with, and the entries its maps must hold
//! before the program is attached.
//!
//! The schema travels inside the object, as JSON in the non-allocated ELF
//! section [`SECTION`] (loaders that do not know it skip it), so `nflc run`,
//! `nflc test` and the control plane need nothing but the object.

use serde::{Deserialize, Serialize};

use crate::table::TableLayout;

/// The ELF section holding the schema.
pub const SECTION: &str = ".nfl.schema";

/// Bumped whenever the layout rules change incompatibly.
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub version: u32,
    /// The program (control) name.
    pub program: String,
    /// `xdp` or `tc`.
    pub hook: String,
    pub maps: Vec<MapSchema>,
    pub tables: Vec<TableLayout>,
    pub counters: Vec<CounterSchema>,
    pub state_maps: Vec<StateMapSchema>,
    pub meters: Vec<MeterSchema>,
    /// Pools; the loader fills each queue map with `first..=last`.
    pub pools: Vec<PoolSchema>,
    /// Sketches (absent from objects without any, so their bytes stay as
    /// they were).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sketches: Vec<SketchSchema>,
    /// Maglev pools (absent from objects without any): the loader builds
    /// each group's table into the map of the same name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maglevs: Vec<MaglevSchema>,
    /// Queues (absent from objects without any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<QueueSchema>,
    /// The stages of a split program (absent when it is one program).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<StagesSchema>,
    /// Config parameters and the values compiled in, for display.
    pub config: Vec<(String, String)>,
    /// Entries to write into maps after loading and before attaching.
    pub initial: Vec<MapInit>,
    /// The table entries known at build time, as rules (what `initial`
    /// was computed from; the control plane adds to and removes from them).
    pub entries: Vec<EntrySchema>,
    /// What specialization did, one line each (`nflc build --explain`).
    pub explain: Vec<String>,
}

/// A program split into stages: the loader loads every program and puts
/// `programs[k]` in slot `k` of the prog array before the entry
/// (`programs[0]`) runs. Neither map is pinned: each load gets its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagesSchema {
    /// The `BPF_MAP_TYPE_PROG_ARRAY` map.
    pub prog_array: String,
    /// The per-CPU array carrying values between stages.
    pub scratch: String,
    /// Program symbols in slot order.
    pub programs: Vec<String>,
}

impl StagesSchema {
    pub fn new(name: &str, plan: &crate::build::stage::StagePlan) -> StagesSchema {
        use crate::build::stage::{PROG_ARRAY, SCRATCH_MAP, StagePlan};
        StagesSchema {
            prog_array: PROG_ARRAY.into(),
            scratch: SCRATCH_MAP.into(),
            programs: (0..plan.len()).map(|k| StagePlan::program_name(name, k)).collect(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapSchema {
    pub name: String,
    /// `hash`, `array`, `lpm_trie`, ... ([`crate::ir::MapKind::name`]).
    pub kind: String,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterSchema {
    pub name: String,
    pub size: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateMapSchema {
    pub name: String,
    /// Key field widths in bits, and where each sits in the key.
    pub key_widths: Vec<u32>,
    pub key_slots: Vec<(u32, u32)>,
    pub value_width: u32,
    pub idle_ns: Option<u64>,
}

/// One table entry: per-key matches, priority (higher wins), action and
/// arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntrySchema {
    pub table: String,
    pub prio: u32,
    pub matches: Vec<crate::hir::KeyMatch>,
    pub action: String,
    pub args: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterSchema {
    pub name: String,
    pub rate: u64,
    pub burst: u64,
    pub key_widths: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSchema {
    pub name: String,
    pub first: u64,
    pub last: u64,
}

/// A `pool NAME: maglev(...)`: map `name` holds one value per group, laid
/// out as [`crate::maglev::Layout`]; `groups[i]` are group `i`'s members.
/// Map `NAME_members` holds one entry per `(group, member)`, keyed as a
/// state map keyed `(u32, T)` is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaglevSchema {
    pub name: String,
    pub slots: u32,
    pub members: u32,
    pub member_bytes: u32,
    pub groups: Vec<Vec<u64>>,
}

impl MaglevSchema {
    pub fn layout(&self) -> crate::maglev::Layout {
        crate::maglev::Layout { slots: self.slots, members: self.members, member_bytes: self.member_bytes }
    }
}

/// A sketch: its map (of the same name) holds one value laid out as
/// docs/kfunc-lib.md says for `kind`; keys are encoded like state-map keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SketchSchema {
    pub name: String,
    pub kind: crate::hir::SketchKind,
    pub rows: u32,
    pub cols: u32,
    pub key_widths: Vec<u32>,
    pub key_slots: Vec<(u32, u32)>,
    pub key_size: u32,
    /// Top-k: how many keys to report, and the candidate map (`NAME_top`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub k: u32,
    /// NitroSketch: updates are sampled with `p = 2^-sample_log2`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sample_log2: u32,
    /// `keyed K per P`: P's field widths and slots (the map's key), and how
    /// many values of P the map keeps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_widths: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_slots: Vec<(u32, u32)>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub per_size: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// A queue: its map (of the same name) is a queue map (`fifo`), or one
/// array value laid out as `build::queue` says for `lowering`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSchema {
    pub name: String,
    pub kind: crate::hir::QueueKind,
    pub elem_width: u32,
    pub size: u32,
    /// `queue_map`, `heap`, `rbtree` or `wheel`.
    pub lowering: String,
    #[serde(default)]
    pub slots: u32,
    #[serde(default)]
    pub slot_cap: u32,
    #[serde(default)]
    pub tick_ns: u64,
}

impl QueueSchema {
    pub fn new(q: &crate::hir::QueueHir, target: crate::target::Target) -> QueueSchema {
        let lowering = match crate::build::queue::lowering(q, target) {
            crate::build::queue::QueueLowering::QueueMap => "queue_map",
            crate::build::queue::QueueLowering::Heap => "heap",
            crate::build::queue::QueueLowering::Rbtree => "rbtree",
            crate::build::queue::QueueLowering::Wheel => "wheel",
        };
        QueueSchema {
            name: q.name.clone(),
            kind: q.kind,
            elem_width: q.elem.width(),
            size: q.size,
            lowering: lowering.into(),
            slots: q.slots,
            slot_cap: q.slot_cap,
            tick_ns: q.tick_ns,
        }
    }
}

/// Entries for one map, as raw key and value bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapInit {
    pub map: String,
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Schema {
    /// Describe a compiled program: its HIR and the maps its IR uses.
    pub fn describe(hir: &crate::hir::Hir, maps: &[crate::ir::MapDef]) -> Result<Schema, String> {
        let mut initial = Vec::new();
        let mut entries = Vec::new();
        for t in &hir.tables {
            initial.extend(crate::entries::initial_maps(&t.layout, &t.entries).map_err(|e| format!("table `{}`: {e}", t.layout.name))?);
            let n = t.entries.len();
            for (i, e) in t.entries.iter().enumerate() {
                entries.push(EntrySchema {
                    table: t.layout.name.clone(),
                    prio: crate::entries::prio(i, n),
                    matches: e.matches.clone(),
                    action: t.layout.actions.get(e.action).map(|a| a.name.clone()).unwrap_or_default(),
                    args: e.args.clone(),
                });
            }
        }
        for s in hir.sketches.iter().filter(|s| s.kind == crate::hir::SketchKind::Nitro) {
            let pool = nitro_pool(s.sample_log2)?;
            initial.push(MapInit { map: crate::build::sketch::nitro_pool_map(&s.name), entries: vec![(0u32.to_ne_bytes().to_vec(), pool.to_bytes())] });
        }
        Ok(Schema {
            version: VERSION,
            program: hir.name.clone(),
            hook: match hir.hook {
                nfl_syntax::ast::Hook::Xdp => "xdp".into(),
                nfl_syntax::ast::Hook::Tc => "tc".into(),
            },
            maps: maps
                .iter()
                .map(|m| MapSchema {
                    name: m.name.clone(),
                    kind: m.kind.name().into(),
                    key_size: m.key_size,
                    value_size: m.value_size,
                    max_entries: m.max_entries,
                    flags: m.flags,
                })
                .collect(),
            tables: hir.tables.iter().map(|t| t.layout.clone()).collect(),
            counters: hir.counters.iter().map(|c| CounterSchema { name: c.name.clone(), size: c.size }).collect(),
            state_maps: hir
                .maps
                .iter()
                .map(|m| {
                    let (slots, _) = crate::build::state_key_layout(&m.key);
                    StateMapSchema {
                        name: m.name.clone(),
                        key_widths: m.key.iter().map(|t| t.width()).collect(),
                        key_slots: slots,
                        value_width: m.value.width(),
                        idle_ns: m.idle_ns,
                    }
                })
                .collect(),
            meters: hir
                .meters
                .iter()
                .map(|m| MeterSchema { name: m.name.clone(), rate: m.rate, burst: m.burst, key_widths: m.key.iter().map(|e| e.ty.width()).collect() })
                .collect(),
            pools: hir.pools.iter().map(|p| PoolSchema { name: p.name.clone(), first: p.first, last: p.last }).collect(),
            maglevs: hir
                .maglevs
                .iter()
                .map(|m| MaglevSchema {
                    name: m.name.clone(),
                    slots: m.layout.slots,
                    members: m.layout.members,
                    member_bytes: m.layout.member_bytes,
                    groups: m.members.clone(),
                })
                .collect(),
            sketches: hir.sketches.iter().map(sketch_schema).collect(),
            queues: hir.queues.iter().map(|q| QueueSchema::new(q, crate::target::Target::Helpers)).collect(),
            stages: None,
            config: hir.config.clone(),
            initial,
            entries,
            explain: hir.explain.clone(),
        })
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Schema, String> {
        let s: Schema = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if s.version != VERSION {
            return Err(format!("schema version {} (this nflc reads version {VERSION})", s.version));
        }
        Ok(s)
    }

    pub fn map(&self, name: &str) -> Option<&MapSchema> {
        self.maps.iter().find(|m| m.name == name)
    }

    pub fn table(&self, name: &str) -> Option<&TableLayout> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Read the schema out of an object, if it has one.
    pub fn from_object(obj: &[u8]) -> Result<Option<Schema>, String> {
        use object::{Object, ObjectSection};
        let file = object::File::parse(obj).map_err(|e| e.to_string())?;
        match file.section_by_name(SECTION) {
            Some(s) => Schema::from_json(s.data().map_err(|e| e.to_string())?).map(Some),
            None => Ok(None),
        }
    }
}

fn sketch_schema(s: &crate::hir::SketchHir) -> SketchSchema {
    let (key_slots, key_size) = crate::build::expr_key_layout(&s.key);
    SketchSchema {
        name: s.name.clone(),
        kind: s.kind,
        rows: s.rows,
        cols: s.cols,
        key_widths: s.key.iter().map(|e| e.ty.width()).collect(),
        key_slots,
        key_size,
        k: s.k,
        sample_log2: s.sample_log2,
        per_widths: s.per.iter().map(|e| e.ty.width()).collect(),
        per_slots: crate::build::expr_key_layout(&s.per).0,
        per_size: s.per_size,
    }
}

/// A NitroSketch's pool of geometric gaps, as its map holds it.
pub fn nitro_pool(sample_log2: u32) -> Result<kfunc_lib::RandPool, String> {
    use crate::build::sketch::{NITRO_POOL_LEN, NITRO_POOL_SEED};
    kfunc_lib::RandPool::new(NITRO_POOL_SEED, NITRO_POOL_LEN as usize, 1, sample_log2).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_matches_survive_json() {
        let e = EntrySchema {
            table: "r6".into(),
            prio: 3,
            matches: vec![crate::hir::KeyMatch::Prefix { value: 0x2001_0db8u128 << 96, len: 32 }, crate::hir::KeyMatch::Any],
            action: "fwd".into(),
            args: vec![7],
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<EntrySchema>(&json).unwrap(), e);
    }
}
