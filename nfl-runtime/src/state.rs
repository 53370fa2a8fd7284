//! A program's maps by name, typed by its schema: writing the entries the
//! build computed, and reading counters, tables and state maps back.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nfl_compiler::schema::{MapSchema, Schema};

use crate::load::LoadedProgram;
use crate::mapops::{self, MapShape};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the program has no map `{0}`")]
    MissingMap(String),
    #[error("map `{map}`: {source}")]
    Io { map: String, source: io::Error },
    #[error("the object carries no nflc schema")]
    NoSchema,
    #[error("{0}")]
    Schema(String),
}

pub struct MapHandle {
    pub fd: OwnedFd,
    pub shape: MapShape,
}

impl MapHandle {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The map pinned at `path`, shaped as `m` says.
    pub fn from_pin(path: &Path, m: &MapSchema) -> Result<MapHandle, StateError> {
        let fd = crate::bpfsys::obj_get(path).map_err(io_err(&m.name))?;
        Ok(MapHandle { fd, shape: shape(m) })
    }
}

/// A map element's key and value bytes.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Reading a program's maps by name, as user space sees them (a per-CPU
/// value is every CPU's copy, each padded to 8 bytes): the kernel's maps
/// ([`MapSet`]) or the userspace engine's.
pub trait MapRead {
    fn shape_of(&self, map: &str) -> Result<MapShape, StateError>;
    fn lookup(&self, map: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
    fn keys(&self, map: &str) -> Result<Vec<Vec<u8>>, StateError>;
}

impl MapRead for MapSet {
    fn shape_of(&self, map: &str) -> Result<MapShape, StateError> {
        Ok(self.get(map)?.shape)
    }

    fn lookup(&self, map: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let h = self.get(map)?;
        mapops::lookup(h.fd(), h.shape, key).map_err(io_err(map))
    }

    fn keys(&self, map: &str) -> Result<Vec<Vec<u8>>, StateError> {
        let h = self.get(map)?;
        mapops::keys(h.fd(), h.shape).map_err(io_err(map))
    }
}

/// Every counter cell that counted something: `(counter, index, packets,
/// bytes)`, summed over CPUs.
pub fn counters(maps: &(impl MapRead + ?Sized), schema: &Schema) -> Result<Vec<(String, u32, u64, u64)>, StateError> {
    let mut out = Vec::new();
    for c in &schema.counters {
        let shape = maps.shape_of(&c.name)?;
        for i in 0..c.size {
            let Some(v) = maps.lookup(&c.name, &i.to_le_bytes())? else { continue };
            let (p, b) = (mapops::sum_per_cpu_u64(shape, &v, 0), mapops::sum_per_cpu_u64(shape, &v, 8));
            if p != 0 || b != 0 || c.size == 1 {
                out.push((c.name.clone(), i, p, b));
            }
        }
    }
    Ok(out)
}

/// The maps of one program instance, by name.
pub struct MapSet {
    maps: BTreeMap<String, MapHandle>,
}

/// The element sizes of a map as the schema describes it.
pub fn shape(m: &MapSchema) -> MapShape {
    MapShape { key_size: m.key_size as usize, value_size: m.value_size as usize, per_cpu: m.kind.contains("percpu") }
}

fn io_err(map: &str) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io { map: map.to_string(), source }
}

fn map_data(m: &aya::maps::Map) -> Option<&aya::maps::MapData> {
    use aya::maps::Map;
    Some(match m {
        Map::Array(d) | Map::HashMap(d) | Map::LpmTrie(d) | Map::LruHashMap(d) => d,
        Map::PerCpuArray(d) | Map::PerCpuHashMap(d) | Map::PerCpuLruHashMap(d) | Map::Queue(d) => d,
        Map::Unsupported(d) => d,
        _ => return None,
    })
}

impl MapSet {
    /// The maps of a program loaded in this process.
    pub fn from_loaded(prog: &LoadedProgram, schema: &Schema) -> Result<MapSet, StateError> {
        MapSet::from_ebpf(prog.ebpf(), schema)
    }

    /// The maps of an object whose maps exist (its program may not be loaded yet).
    pub fn from_ebpf(ebpf: &aya::Ebpf, schema: &Schema) -> Result<MapSet, StateError> {
        let mut maps = BTreeMap::new();
        for m in &schema.maps {
            let data = ebpf.map(&m.name).and_then(map_data).ok_or_else(|| StateError::MissingMap(m.name.clone()))?;
            let fd = data.fd().as_fd().try_clone_to_owned().map_err(io_err(&m.name))?;
            maps.insert(m.name.clone(), MapHandle { fd, shape: shape(m) });
        }
        Ok(MapSet { maps })
    }

    /// The maps pinned in `dir` (one file per map, named as in the schema).
    pub fn from_pins(dir: &Path, schema: &Schema) -> Result<MapSet, StateError> {
        let mut maps = BTreeMap::new();
        for m in &schema.maps {
            maps.insert(m.name.clone(), MapHandle::from_pin(&dir.join(&m.name), m)?);
        }
        Ok(MapSet { maps })
    }

    /// Add (or replace) one map.
    pub fn insert(&mut self, name: &str, handle: MapHandle) {
        self.maps.insert(name.to_string(), handle);
    }

    /// Write the build's entries for the maps in `only`.
    pub fn write_initial_for(&self, schema: &Schema, only: &[&str]) -> Result<(), StateError> {
        for w in initial_writes(schema, only) {
            let h = self.get(&w.map)?;
            let done = if w.every_cpu {
                mapops::update_all_cpus(h.fd(), h.shape, &w.key, &w.value)
            } else {
                mapops::update(h.fd(), h.shape, &w.key, &w.value, mapops::UPDATE_ANY)
            };
            done.map_err(io_err(&w.map))?;
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<&MapHandle, StateError> {
        self.maps.get(name).ok_or_else(|| StateError::MissingMap(name.to_string()))
    }

    /// Write the entries the build computed (tables fixed in code or
    /// config) and fill the pools. Run this after loading and before
    /// attaching, on freshly created maps.
    pub fn write_initial(&self, schema: &Schema) -> Result<(), StateError> {
        let all: Vec<&str> = schema.maps.iter().map(|m| m.name.as_str()).collect();
        self.write_initial_for(schema, &all)
    }

    /// Every counter cell that counted something (see [`counters`]).
    pub fn counters(&self, schema: &Schema) -> Result<Vec<(String, u32, u64, u64)>, StateError> {
        counters(self, schema)
    }

    /// Raw `(key, value)` pairs of a map.
    pub fn dump(&self, map: &str) -> Result<Vec<Entry>, StateError> {
        let h = self.get(map)?;
        let keys = mapops::keys(h.fd(), h.shape).map_err(io_err(map))?;
        let mut out = Vec::new();
        for k in keys {
            if let Some(v) = mapops::lookup(h.fd(), h.shape, &k).map_err(io_err(map))? {
                out.push((k, v));
            }
        }
        Ok(out)
    }
}

/// One map write the build asks for before the first packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitWrite {
    pub map: String,
    /// Empty for a queue map (each write pushes).
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// The value goes to every CPU of a per-CPU map.
    pub every_cpu: bool,
}

/// The writes that fill the maps in `only` as the build computed them:
/// table entries fixed in code or config, pools, Maglev groups (a pool's
/// two maps together, when its table map is named).
pub fn initial_writes(schema: &Schema, only: &[&str]) -> Vec<InitWrite> {
    let mut out = Vec::new();
    let mut push = |map: &str, key: Vec<u8>, value: Vec<u8>, every_cpu: bool| {
        out.push(InitWrite { map: map.to_string(), key, value, every_cpu });
    };
    for init in schema.initial.iter().filter(|i| only.contains(&i.map.as_str())) {
        for (k, v) in &init.entries {
            push(&init.map, k.clone(), v.clone(), true);
        }
    }
    for pool in schema.pools.iter().filter(|p| only.contains(&p.name.as_str())) {
        for v in pool.first..=pool.last {
            push(&pool.name, Vec::new(), (v as u32).to_le_bytes().to_vec(), false);
        }
    }
    for pool in schema.maglevs.iter().filter(|p| only.contains(&p.name.as_str())) {
        let layout = pool.layout();
        let members_name = nfl_compiler::build::maglev::members_map(&pool.name);
        // Groups the config leaves out stay zero: empty.
        for (g, members) in pool.groups.iter().enumerate() {
            let value = nfl_compiler::maglev::group_value(&layout, members);
            push(&pool.name, (g as u32).to_le_bytes().to_vec(), value, false);
            for v in members {
                let key = nfl_compiler::maglev::member_key(g as u32, *v, pool.member_bytes);
                push(&members_name, key, vec![1], false);
            }
        }
    }
    out
}

/// The schema inside an object, or an error saying why there is none.
pub fn schema_of(obj: &[u8]) -> Result<Schema, StateError> {
    Schema::from_object(obj).map_err(StateError::Schema)?.ok_or(StateError::NoSchema)
}

/// Write the initial entries of an nflc object into the maps of the program
/// just loaded from it (a no-op for objects without a schema or entries).
pub fn init_maps(prog: &LoadedProgram, obj: &[u8]) -> Result<(), StateError> {
    let schema = match Schema::from_object(obj).map_err(StateError::Schema)? {
        Some(s) if !s.initial.is_empty() || !s.pools.is_empty() || !s.maglevs.is_empty() => s,
        _ => return Ok(()),
    };
    MapSet::from_loaded(prog, &schema)?.write_initial(&schema)
}
