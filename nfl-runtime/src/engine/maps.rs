//! Maps with the kernel's semantics: update flags and their errors, LRU
//! eviction, per-CPU values, longest-prefix match, FIFO/LIFO queues, prog
//! arrays and ring buffers (docs/engine.md lists where the engine differs).
//!
//! Every value lives in its own boxed allocation, so a pointer a program
//! got from a lookup stays valid for the rest of the run even if the map
//! changes: deleted values wait in `graveyard` until the next run.

use std::collections::{BTreeSet, HashMap, VecDeque};

use rustc_hash::FxHashMap;

use super::image::MapDef;

pub const BPF_MAP_TYPE_HASH: u32 = 1;
pub const BPF_MAP_TYPE_ARRAY: u32 = 2;
pub const BPF_MAP_TYPE_PROG_ARRAY: u32 = 3;
pub const BPF_MAP_TYPE_PERCPU_HASH: u32 = 5;
pub const BPF_MAP_TYPE_PERCPU_ARRAY: u32 = 6;
pub const BPF_MAP_TYPE_LRU_HASH: u32 = 9;
pub const BPF_MAP_TYPE_LRU_PERCPU_HASH: u32 = 10;
pub const BPF_MAP_TYPE_LPM_TRIE: u32 = 11;
pub const BPF_MAP_TYPE_QUEUE: u32 = 22;
pub const BPF_MAP_TYPE_STACK: u32 = 23;
pub const BPF_MAP_TYPE_RINGBUF: u32 = 27;

pub const BPF_ANY: u64 = 0;
pub const BPF_NOEXIST: u64 = 1;
pub const BPF_EXIST: u64 = 2;
pub const BPF_F_LOCK: u64 = 4;

pub const ENOENT: i64 = 2;
pub const E2BIG: i64 = 7;
pub const EEXIST: i64 = 17;
pub const EINVAL: i64 = 22;
pub const ENOSPC: i64 = 28;

/// A map operation's failure: the kernel's errno.
pub type Errno = i64;

type Value = Box<[u8]>;

/// One element: a value per CPU (one for shared maps) and, for LRU maps,
/// when it was last used.
struct Elem {
    vals: Vec<Value>,
    used: u64,
}

enum Store {
    /// Arrays: `max_entries` elements, all present.
    Array(Vec<Elem>),
    /// Hash maps (LRU when `lru`).
    Hash { elems: FxHashMap<Vec<u8>, Elem>, lru: bool },
    /// LPM trie: keys with their data masked to the prefix, the prefix
    /// lengths present (longest first at lookup), and each element's key
    /// as last written (the kernel keeps the bits past the prefix and
    /// lists them).
    Lpm { elems: FxHashMap<Vec<u8>, Elem>, lens: BTreeSet<u32>, written: FxHashMap<Vec<u8>, Vec<u8>> },
    /// Queue (FIFO) or stack (LIFO).
    Queue { items: VecDeque<Value>, lifo: bool },
    /// Program indices of the engine's image.
    ProgArray(Vec<Option<usize>>),
    /// Records written, oldest first, and bytes in use.
    Ringbuf { records: Vec<Vec<u8>>, used: usize, reserved: HashMap<usize, Value> },
}

/// One map.
pub struct Map {
    pub def: MapDef,
    store: Store,
    ncpu: usize,
    clock: u64,
    /// Values removed during this run (their pointers stay valid).
    graveyard: Vec<Value>,
}

fn percpu(t: u32) -> bool {
    matches!(t, BPF_MAP_TYPE_PERCPU_HASH | BPF_MAP_TYPE_PERCPU_ARRAY | BPF_MAP_TYPE_LRU_PERCPU_HASH)
}

impl Map {
    pub fn new(def: MapDef, ncpu: usize) -> Result<Map, String> {
        // A per-CPU value is kept padded to 8 bytes, as the kernel keeps it
        // (user space reads and writes the padding too).
        let vs = if percpu(def.map_type) { (def.value_size as usize).div_ceil(8) * 8 } else { def.value_size as usize };
        let per = if percpu(def.map_type) { ncpu.max(1) } else { 1 };
        let store = match def.map_type {
            BPF_MAP_TYPE_ARRAY | BPF_MAP_TYPE_PERCPU_ARRAY => {
                let mut elems: Vec<Elem> = (0..def.max_entries)
                    .map(|_| Elem { vals: (0..per).map(|_| vec![0u8; vs].into_boxed_slice()).collect(), used: 0 })
                    .collect();
                if !def.data.is_empty() {
                    if let Some(e) = elems.first_mut() {
                        let n = def.data.len().min(vs);
                        e.vals[0][..n].copy_from_slice(&def.data[..n]);
                    }
                }
                Store::Array(elems)
            }
            BPF_MAP_TYPE_HASH | BPF_MAP_TYPE_PERCPU_HASH => Store::Hash { elems: FxHashMap::default(), lru: false },
            BPF_MAP_TYPE_LRU_HASH | BPF_MAP_TYPE_LRU_PERCPU_HASH => Store::Hash { elems: FxHashMap::default(), lru: true },
            BPF_MAP_TYPE_LPM_TRIE => {
                if def.key_size <= 4 {
                    return Err(format!("LPM trie `{}` has a key of {} bytes", def.name, def.key_size));
                }
                Store::Lpm { elems: FxHashMap::default(), lens: BTreeSet::new(), written: FxHashMap::default() }
            }
            BPF_MAP_TYPE_QUEUE | BPF_MAP_TYPE_STACK => {
                Store::Queue { items: VecDeque::new(), lifo: def.map_type == BPF_MAP_TYPE_STACK }
            }
            BPF_MAP_TYPE_PROG_ARRAY => Store::ProgArray(vec![None; def.max_entries as usize]),
            BPF_MAP_TYPE_RINGBUF => Store::Ringbuf { records: Vec::new(), used: 0, reserved: HashMap::new() },
            t => return Err(format!("map `{}` has type {t}, which the engine does not provide", def.name)),
        };
        Ok(Map { def, store, ncpu: per, clock: 0, graveyard: Vec::new() })
    }

    pub fn is_percpu(&self) -> bool {
        percpu(self.def.map_type)
    }

    /// Free what deletions of the last run kept alive.
    pub fn end_run(&mut self) {
        self.graveyard.clear();
    }

    /// Bytes kept per value: a per-CPU value padded to 8.
    fn stored_size(&self) -> usize {
        let vs = self.def.value_size as usize;
        if self.is_percpu() { vs.div_ceil(8) * 8 } else { vs }
    }

    fn new_elem(&self, cpu: Option<usize>, value: &[u8]) -> Elem {
        let vs = self.def.value_size as usize;
        let vals = (0..self.ncpu)
            .map(|c| {
                let mut v = vec![0u8; self.stored_size()].into_boxed_slice();
                if cpu.is_none_or(|x| x == c) || self.ncpu == 1 {
                    v[..vs].copy_from_slice(&value[..vs]);
                }
                v
            })
            .collect();
        Elem { vals, used: 0 }
    }

    /// An LPM key with the data bits past its prefix cleared, or `None`
    /// when the prefix is longer than the data.
    fn lpm_norm(&self, key: &[u8]) -> Option<(u32, Vec<u8>)> {
        let plen = u32::from_ne_bytes(key.get(..4)?.try_into().ok()?);
        let bits = (key.len() as u32 - 4) * 8;
        if plen > bits {
            return None;
        }
        Some((plen, mask_prefix(key, plen)))
    }

    /// The element for `key`, as a program's lookup finds it.
    fn find(&mut self, key: &[u8]) -> Option<&mut Elem> {
        let key = key.get(..self.def.key_size as usize)?;
        let slot = self.locate(key)?;
        self.clock += 1;
        let now = self.clock;
        let e = match (&mut self.store, slot) {
            (Store::Array(elems), Slot::Index(i)) => elems.get_mut(i),
            (Store::Hash { elems, .. }, Slot::Key) => elems.get_mut(key),
            (Store::Lpm { elems, .. }, Slot::Prefix(l)) => with_probe(key, |probe| {
                mask_prefix_into(key, l, probe);
                elems.get_mut(&*probe)
            }),
            _ => None,
        }?;
        e.used = now;
        Some(e)
    }

    /// `bpf_map_lookup_elem` from a program on `cpu`: the value's host
    /// memory.
    pub fn lookup(&mut self, key: &[u8], cpu: usize) -> Option<*mut u8> {
        let single = self.ncpu == 1;
        let e = self.find(key)?;
        let v = if single { &mut e.vals[0] } else { e.vals.get_mut(cpu)? };
        Some(v.as_mut_ptr())
    }

    /// The element `update` writes: from a program on `cpu`, the value in
    /// that CPU's slot and zeros elsewhere (what a new element gets); from
    /// user space (`cpu` is `None`), `value` holds every CPU's value.
    fn source(&self, value: &[u8], cpu: Option<usize>) -> Result<Elem, Errno> {
        let vs = self.def.value_size as usize;
        match cpu {
            None if self.is_percpu() => {
                // User space's format: every CPU's value, each padded to 8.
                let stride = self.stored_size();
                let vals = (0..self.ncpu)
                    .map(|c| value.get(c * stride..(c + 1) * stride).map(|v| v.to_vec().into_boxed_slice()))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(EINVAL)?;
                Ok(Elem { vals, used: 0 })
            }
            _ => Ok(self.new_elem(cpu, value.get(..vs).ok_or(EINVAL)?)),
        }
    }

    /// `bpf_map_update_elem` from a program on `cpu` (`None`: from user
    /// space, `value` then holding every CPU's value for per-CPU maps, each
    /// padded to 8 bytes, as the kernel takes them).
    pub fn update(&mut self, key: &[u8], value: &[u8], flags: u64, cpu: Option<usize>) -> Result<(), Errno> {
        let ks = self.def.key_size as usize;
        if flags & !(BPF_EXIST | BPF_NOEXIST | BPF_F_LOCK) != 0 || flags & 3 == 3 {
            return Err(EINVAL);
        }
        let key = key.get(..ks).ok_or(EINVAL)?;
        let mut src = self.source(value, cpu)?;
        let (ncpu, max) = (self.ncpu, self.def.max_entries as usize);
        self.clock += 1;
        src.used = self.clock;
        // An existing element keeps its allocation (pointers into it stay
        // good); a program's write touches only its CPU's value, and not
        // a per-CPU value's padding.
        let vs = self.def.value_size as usize;
        let overwrite = |e: &mut Elem, src: Elem| -> Result<(), Errno> {
            if flags & 3 == BPF_NOEXIST {
                return Err(EEXIST);
            }
            for (c, (v, s)) in e.vals.iter_mut().zip(src.vals.iter()).enumerate() {
                if cpu.is_none() {
                    v.copy_from_slice(s);
                } else if cpu == Some(c) || ncpu == 1 {
                    v[..vs].copy_from_slice(&s[..vs]);
                }
            }
            e.used = src.used;
            Ok(())
        };
        let norm = match &self.store {
            Store::Lpm { .. } => Some(self.lpm_norm(key).ok_or(EINVAL)?),
            _ => None,
        };
        match &mut self.store {
            Store::Array(elems) => {
                let idx = u32::from_ne_bytes(key[..4].try_into().map_err(|_| EINVAL)?) as usize;
                overwrite(elems.get_mut(idx).ok_or(E2BIG)?, src)
            }
            Store::Hash { elems, lru } => {
                if let Some(e) = elems.get_mut(key) {
                    return overwrite(e, src);
                }
                if flags & 3 == BPF_EXIST {
                    return Err(ENOENT);
                }
                if elems.len() >= max {
                    if !*lru {
                        return Err(E2BIG);
                    }
                    let oldest = elems.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone());
                    if let Some(old) = oldest.and_then(|k| elems.remove(&k)) {
                        self.graveyard.extend(old.vals);
                    }
                }
                elems.insert(key.to_vec(), src);
                Ok(())
            }
            Store::Lpm { elems, lens, written } => {
                let (plen, norm) = norm.ok_or(EINVAL)?;
                if let Some(e) = elems.get_mut(&norm) {
                    overwrite(e, src)?;
                    written.insert(norm, key.to_vec());
                    return Ok(());
                }
                if flags & 3 == BPF_EXIST {
                    return Err(ENOENT);
                }
                if elems.len() >= max {
                    return Err(ENOSPC);
                }
                written.insert(norm.clone(), key.to_vec());
                elems.insert(norm, src);
                lens.insert(plen);
                Ok(())
            }
            _ => Err(EINVAL),
        }
    }

    /// A user-space update that gives every CPU of a per-CPU map the same
    /// `value` (one CPU's), as `mapops::update_all_cpus` does in the kernel.
    pub fn update_every_cpu(&mut self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno> {
        if !self.is_percpu() {
            return self.update(key, value, flags, None);
        }
        let stride = self.stored_size();
        let mut all = vec![0u8; stride * self.ncpu];
        let n = value.len().min(stride);
        for chunk in all.chunks_mut(stride) {
            chunk[..n].copy_from_slice(&value[..n]);
        }
        self.update(key, &all, flags, None)
    }

    /// `bpf_map_delete_elem`.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), Errno> {
        let ks = self.def.key_size as usize;
        let key = key.get(..ks).ok_or(EINVAL)?;
        let removed = match &mut self.store {
            Store::Array(_) => return Err(EINVAL),
            Store::Hash { elems, .. } => elems.remove(key),
            Store::Lpm { elems, lens, written } => {
                let plen = u32::from_ne_bytes(key[..4].try_into().map_err(|_| EINVAL)?);
                if plen > (ks as u32 - 4) * 8 {
                    return Err(EINVAL);
                }
                let norm = mask_prefix(key, plen);
                written.remove(&norm);
                let r = elems.remove(&norm);
                if r.is_some() && !elems.keys().any(|k| k[..4] == plen.to_ne_bytes()) {
                    lens.remove(&plen);
                }
                r
            }
            _ => return Err(EINVAL),
        };
        let e = removed.ok_or(ENOENT)?;
        self.graveyard.extend(e.vals);
        Ok(())
    }

    /// `bpf_map_push_elem`: a full queue fails with `E2BIG`, unless
    /// `BPF_EXIST` asks to drop the oldest element.
    pub fn push(&mut self, value: &[u8], flags: u64) -> Result<(), Errno> {
        let vs = self.def.value_size as usize;
        let max = self.def.max_entries as usize;
        let Store::Queue { items, .. } = &mut self.store else { return Err(EINVAL) };
        if flags & !BPF_EXIST != 0 {
            return Err(EINVAL);
        }
        if items.len() >= max {
            if flags & BPF_EXIST == 0 {
                return Err(E2BIG);
            }
            if let Some(old) = items.pop_front() {
                self.graveyard.push(old);
            }
        }
        items.push_back(value.get(..vs).ok_or(EINVAL)?.to_vec().into_boxed_slice());
        Ok(())
    }

    /// `bpf_map_pop_elem` (`remove`) or `bpf_map_peek_elem`.
    pub fn pop(&mut self, remove: bool) -> Result<Vec<u8>, Errno> {
        let Store::Queue { items, lifo } = &mut self.store else { return Err(EINVAL) };
        let v = match (*lifo, remove) {
            (false, true) => items.pop_front(),
            (true, true) => items.pop_back(),
            (false, false) => items.front().cloned(),
            (true, false) => items.back().cloned(),
        };
        v.map(|v| v.to_vec()).ok_or(ENOENT)
    }

    /// The program in slot `index` of a prog array.
    pub fn prog_at(&self, index: u64) -> Option<usize> {
        match &self.store {
            Store::ProgArray(slots) => slots.get(usize::try_from(index).ok()?).copied().flatten(),
            _ => None,
        }
    }

    /// Put program `prog` in slot `index` of a prog array.
    pub fn set_prog(&mut self, index: u32, prog: Option<usize>) -> Result<(), Errno> {
        match &mut self.store {
            Store::ProgArray(slots) => {
                *slots.get_mut(index as usize).ok_or(E2BIG)? = prog;
                Ok(())
            }
            _ => Err(EINVAL),
        }
    }

    /// `bpf_ringbuf_output`: the record is kept for [`Map::dump`].
    pub fn ringbuf_output(&mut self, data: &[u8]) -> Result<(), Errno> {
        let cap = self.def.max_entries as usize;
        let Store::Ringbuf { records, used, .. } = &mut self.store else { return Err(EINVAL) };
        // Each record takes an 8-byte header, rounded to 8 bytes.
        let need = 8 + data.len().div_ceil(8) * 8;
        if *used + need > cap {
            return Err(11); // EAGAIN
        }
        *used += need;
        records.push(data.to_vec());
        Ok(())
    }

    /// `bpf_ringbuf_reserve`: a zeroed record, committed by
    /// [`Map::ringbuf_commit`].
    pub fn ringbuf_reserve(&mut self, size: usize) -> Option<*mut u8> {
        let cap = self.def.max_entries as usize;
        let Store::Ringbuf { used, reserved, .. } = &mut self.store else { return None };
        let need = 8 + size.div_ceil(8) * 8;
        if *used + need > cap {
            return None;
        }
        *used += need;
        let mut rec = vec![0u8; size].into_boxed_slice();
        let p = rec.as_mut_ptr();
        reserved.insert(p as usize, rec);
        Some(p)
    }

    /// `bpf_ringbuf_submit` (`keep`) or `bpf_ringbuf_discard` of the record
    /// at host address `p`.
    pub fn ringbuf_commit(&mut self, p: usize, keep: bool) -> bool {
        let Store::Ringbuf { records, used, reserved } = &mut self.store else { return false };
        let Some(rec) = reserved.remove(&p) else { return false };
        if keep {
            records.push(rec.to_vec());
        } else {
            *used -= 8 + rec.len().div_ceil(8) * 8;
        }
        self.graveyard.push(rec);
        true
    }

    /// Every element as user space sees it, sorted by key: per-CPU maps
    /// give one value per CPU. Queues list their values under empty keys,
    /// oldest first; ring buffers their records; prog arrays nothing.
    pub fn dump(&self) -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
        let vals = |e: &Elem| e.vals.iter().map(|v| v.to_vec()).collect::<Vec<_>>();
        let mut out: Vec<(Vec<u8>, Vec<Vec<u8>>)> = match &self.store {
            Store::Array(elems) => {
                elems.iter().enumerate().map(|(i, e)| ((i as u32).to_ne_bytes().to_vec(), vals(e))).collect()
            }
            Store::Hash { elems, .. } => elems.iter().map(|(k, e)| (k.clone(), vals(e))).collect(),
            Store::Lpm { elems, written, .. } => {
                elems.iter().map(|(k, e)| (written.get(k).unwrap_or(k).clone(), vals(e))).collect()
            }
            Store::Queue { items, .. } => return items.iter().map(|v| (Vec::new(), vec![v.to_vec()])).collect(),
            Store::Ringbuf { records, .. } => return records.iter().map(|r| (Vec::new(), vec![r.clone()])).collect(),
            Store::ProgArray(_) => Vec::new(),
        };
        out.sort();
        out
    }

    /// The host memory of `key`'s value (the first CPU's) without touching
    /// LRU order: where graph roots in it live.
    pub fn peek_host(&self, key: &[u8]) -> Option<*const u8> {
        let key = key.get(..self.def.key_size as usize)?;
        let e = self.element(key)?;
        Some(e.vals.first()?.as_ptr())
    }

    fn element(&self, key: &[u8]) -> Option<&Elem> {
        match (&self.store, self.locate(key)?) {
            (Store::Array(elems), Slot::Index(i)) => elems.get(i),
            (Store::Hash { elems, .. }, Slot::Key) => elems.get(key),
            (Store::Lpm { elems, .. }, Slot::Prefix(l)) => with_probe(key, |probe| {
                mask_prefix_into(key, l, probe);
                elems.get(&*probe)
            }),
            _ => None,
        }
    }

    /// Where a lookup of `key` (cut to the key size) lands: an array's
    /// index, a hash map's key itself, or the longest prefix length of a
    /// trie's entries that matches it.
    fn locate(&self, key: &[u8]) -> Option<Slot> {
        match &self.store {
            Store::Array(_) => Some(Slot::Index(u32::from_ne_bytes(key.get(..4)?.try_into().ok()?) as usize)),
            Store::Hash { .. } => Some(Slot::Key),
            Store::Lpm { elems, lens, .. } => {
                let plen = u32::from_ne_bytes(key.get(..4)?.try_into().ok()?);
                let best = with_probe(key, |probe| {
                    lens.iter().rev().copied().filter(|&l| l <= plen).find(|&l| {
                        mask_prefix_into(key, l, probe);
                        elems.contains_key(&*probe)
                    })
                });
                best.map(Slot::Prefix)
            }
            _ => None,
        }
    }

    /// A lookup from user space (which leaves LRU order alone): every
    /// CPU's value, in the kernel's user-space format (each padded to 8
    /// bytes for per-CPU maps, one after another).
    pub fn peek(&self, key: &[u8]) -> Option<Vec<u8>> {
        let key = key.get(..self.def.key_size as usize)?;
        let e = self.element(key)?;
        Some(self.user_value(e.vals.iter().map(|v| v.to_vec()).collect()))
    }

    /// Values of one element as user space reads them (per-CPU values are
    /// kept padded already).
    pub fn user_value(&self, vals: Vec<Vec<u8>>) -> Vec<u8> {
        vals.concat()
    }
}

/// What [`Map::locate`] finds.
#[derive(Clone, Copy)]
enum Slot {
    Index(usize),
    Key,
    Prefix(u32),
}

/// `f` with a scratch buffer of `key`'s length, on the stack when it is
/// short (trie keys are).
fn with_probe<R>(key: &[u8], f: impl FnOnce(&mut [u8]) -> R) -> R {
    let mut buf = [0u8; 64];
    match buf.get_mut(..key.len()) {
        Some(b) => f(b),
        None => f(&mut vec![0u8; key.len()]),
    }
}

/// `key` (a `u32` prefix length, then data) with the data bits past `plen`
/// cleared and the prefix length set to `plen`.
fn mask_prefix(key: &[u8], plen: u32) -> Vec<u8> {
    let mut out = key.to_vec();
    mask_prefix_into(key, plen, &mut out);
    out
}

/// [`mask_prefix`] into `out`, which has the key's length.
fn mask_prefix_into(key: &[u8], plen: u32, out: &mut [u8]) {
    out.copy_from_slice(key);
    out[..4].copy_from_slice(&plen.to_ne_bytes());
    for (i, b) in out[4..].iter_mut().enumerate() {
        let bit = i as u32 * 8;
        if bit >= plen {
            *b = 0;
        } else if plen - bit < 8 {
            *b &= 0xffu8 << (8 - (plen - bit));
        }
    }
}

/// Every map of an engine, indexed as the image numbers them.
#[derive(Default)]
pub struct MapSet {
    pub maps: Vec<Map>,
}

impl crate::state::MapRead for MapSet {
    fn shape_of(&self, map: &str) -> Result<crate::mapops::MapShape, crate::state::StateError> {
        let m = self.named(map)?;
        Ok(crate::mapops::MapShape {
            key_size: m.def.key_size as usize,
            value_size: m.def.value_size as usize,
            per_cpu: m.is_percpu(),
        })
    }

    fn lookup(&self, map: &str, key: &[u8]) -> Result<Option<Vec<u8>>, crate::state::StateError> {
        Ok(self.named(map)?.peek(key))
    }

    fn keys(&self, map: &str) -> Result<Vec<Vec<u8>>, crate::state::StateError> {
        Ok(self.named(map)?.dump().into_iter().map(|(k, _)| k).collect())
    }
}

impl MapSet {
    fn named(&self, name: &str) -> Result<&Map, crate::state::StateError> {
        self.maps.iter().find(|m| m.def.name == name).ok_or_else(|| crate::state::StateError::MissingMap(name.to_string()))
    }

    pub fn new(defs: &[MapDef], ncpu: usize) -> Result<MapSet, String> {
        Ok(MapSet { maps: defs.iter().map(|d| Map::new(d.clone(), ncpu)).collect::<Result<_, _>>()? })
    }

    pub fn by_name(&mut self, name: &str) -> Option<&mut Map> {
        self.maps.iter_mut().find(|m| m.def.name == name)
    }

    pub fn get(&mut self, index: u64) -> Option<&mut Map> {
        self.maps.get_mut(usize::try_from(index).ok()?)
    }

    pub fn end_run(&mut self) {
        self.maps.iter_mut().for_each(Map::end_run);
    }
}
