//! The engine's maps against the kernel's: the same random operations on a
//! hash, an array, a per-CPU hash and array, an LPM trie and a queue, in
//! the kernel (through the bpf(2) map commands) and in the engine, give the
//! same errors, the same lookups and the same contents. LRU eviction, which
//! the kernel does approximately, is checked against its definition.

use std::os::fd::AsFd;

use nfl_compiler::elf::{MapSpec, ObjectSpec, write_object};
use nfl_runtime::engine::image::MapDef;
use nfl_runtime::engine::maps::{BPF_ANY, BPF_EXIST, Map};
use nfl_runtime::mapops::{self, MapShape, possible_cpus};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn spec(name: &str, map_type: u32, key_size: u32, value_size: u32, max_entries: u32, flags: u32) -> MapSpec {
    MapSpec { name: name.into(), map_type, key_size, value_size, max_entries, flags, pinned: false }
}

fn def(s: &MapSpec) -> MapDef {
    MapDef {
        name: s.name.clone(),
        map_type: s.map_type,
        key_size: s.key_size,
        value_size: s.value_size,
        max_entries: s.max_entries,
        flags: s.flags,
        data: Vec::new(),
    }
}

fn errno<T>(r: std::io::Result<T>) -> Result<T, i64> {
    r.map_err(|e| i64::from(e.raw_os_error().unwrap_or(-1)))
}

/// A random key of the map's kind: small indices and values so that
/// operations collide.
fn key(rng: &mut Rng, s: &MapSpec) -> Vec<u8> {
    match s.map_type {
        11 => {
            let mut k = (rng.below(33) as u32).to_ne_bytes().to_vec();
            k.extend([198, 18, rng.below(4) as u8 * 64, rng.below(3) as u8]);
            k
        }
        _ => (rng.below(u64::from(s.max_entries) + 3) as u32).to_ne_bytes().to_vec(),
    }
}

/// A value in user space's format (per-CPU: each CPU's, padded to 8).
fn value(rng: &mut Rng, s: &MapSpec, per_cpu: bool) -> Vec<u8> {
    let n = if per_cpu { possible_cpus() * (s.value_size as usize).div_ceil(8) * 8 } else { s.value_size as usize };
    (0..n).map(|_| rng.below(256) as u8).collect()
}

#[test]
fn engine_maps_answer_as_the_kernels_do() {
    if !nfl_runtime::require_kernel("engine_maps_answer_as_the_kernels_do") {
        return;
    }
    let specs = vec![
        spec("hash", 1, 4, 8, 6, 0),
        spec("array", 2, 4, 8, 5, 0),
        spec("pc_hash", 5, 4, 12, 6, 0),
        spec("pc_array", 6, 4, 12, 4, 0),
        // BPF_F_NO_PREALLOC, which the kernel requires of a trie.
        spec("trie", 11, 8, 4, 10, 1),
    ];
    let obj = write_object(&ObjectSpec { maps: specs.clone(), ..ObjectSpec::default() }).expect("object");
    let ebpf = nfl_runtime::load::create_maps(&obj, &nfl_runtime::load::MapPins { default_dir: None, by_name: Vec::new() })
        .expect("create maps");
    let mut rng = Rng(0x6d61_7073);
    for s in &specs {
        let per_cpu = matches!(s.map_type, 5 | 6);
        let shape = MapShape { key_size: s.key_size as usize, value_size: s.value_size as usize, per_cpu };
        let kmap = ebpf.map(&s.name).unwrap_or_else(|| panic!("map {}", s.name));
        let fd = match kmap {
            aya::maps::Map::HashMap(m) | aya::maps::Map::Array(m) | aya::maps::Map::PerCpuHashMap(m) | aya::maps::Map::PerCpuArray(m) | aya::maps::Map::LpmTrie(m) => m.fd().as_fd(),
            other => panic!("unexpected map {other:?}"),
        };
        let mut emap = Map::new(def(s), possible_cpus()).expect("engine map");
        for step in 0..3000 {
            let k = key(&mut rng, s);
            match rng.below(3) {
                0 => {
                    // Flags 0..=3: BPF_ANY, NOEXIST, EXIST, and the invalid pair.
                    let flags = rng.below(4);
                    let v = value(&mut rng, s, per_cpu);
                    let kr = errno(mapops::update(fd, shape, &k, &v, flags));
                    let er = emap.update(&k, &v, flags, None);
                    assert_eq!(kr, er, "{} step {step}: update {k:02x?} flags {flags}", s.name);
                }
                1 => {
                    let kr = errno(mapops::delete(fd, shape, &k)).map(|found| if found { Ok(()) } else { Err(2) });
                    let er = emap.delete(&k);
                    assert_eq!(kr.unwrap_or_else(Err), er, "{} step {step}: delete {k:02x?}", s.name);
                }
                _ => {
                    let kr = errno(mapops::lookup(fd, shape, &k));
                    let kr = kr.map(|v| v.map(|v| v.into_iter().collect::<Vec<u8>>()));
                    let er = emap.peek(&k);
                    assert_eq!(kr, Ok(er), "{} step {step}: lookup {k:02x?}", s.name);
                }
            }
        }
        let mut kernel: Vec<(Vec<u8>, Vec<u8>)> = mapops::keys(fd, shape)
            .expect("keys")
            .into_iter()
            .map(|k| {
                let v = mapops::lookup(fd, shape, &k).expect("lookup").expect("present");
                (k, v)
            })
            .collect();
        kernel.sort();
        let engine: Vec<(Vec<u8>, Vec<u8>)> = emap.dump().into_iter().map(|(k, v)| (k, emap.user_value(v))).collect();
        assert_eq!(kernel, engine, "{}: contents", s.name);
    }
}

#[test]
fn lru_evicts_the_least_recently_used_and_a_full_hash_refuses() {
    let lru = spec("lru", 9, 4, 4, 3, 0);
    let mut m = Map::new(def(&lru), 1).expect("lru");
    for k in 0u32..3 {
        m.update(&k.to_ne_bytes(), &k.to_ne_bytes(), BPF_ANY, Some(0)).expect("insert");
    }
    // A program's lookup of 0 makes 1 the least recently used.
    assert!(m.lookup(&0u32.to_ne_bytes(), 0).is_some());
    m.update(&7u32.to_ne_bytes(), &[7, 0, 0, 0], BPF_ANY, Some(0)).expect("evicts");
    let keys: Vec<Vec<u8>> = m.dump().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec![0u32.to_ne_bytes().to_vec(), 2u32.to_ne_bytes().to_vec(), 7u32.to_ne_bytes().to_vec()]);
    // A plain hash map says E2BIG instead; BPF_EXIST on a missing key is ENOENT.
    let mut h = Map::new(def(&spec("h", 1, 4, 4, 1, 0)), 1).expect("hash");
    h.update(&[1, 0, 0, 0], &[1, 0, 0, 0], BPF_ANY, Some(0)).expect("first");
    assert_eq!(h.update(&[2, 0, 0, 0], &[2, 0, 0, 0], BPF_ANY, Some(0)), Err(7));
    assert_eq!(h.update(&[3, 0, 0, 0], &[2, 0, 0, 0], BPF_EXIST, Some(0)), Err(2));
}

#[test]
fn a_programs_per_cpu_update_writes_its_cpu_and_zeroes_the_others_of_a_new_element() {
    let mut m = Map::new(def(&spec("pc", 5, 4, 4, 4, 0)), 3).expect("map");
    m.update(&[1, 0, 0, 0], &[9, 9, 9, 9], BPF_ANY, Some(1)).expect("new");
    assert_eq!(m.peek(&[1, 0, 0, 0]), Some(vec![0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    m.update(&[1, 0, 0, 0], &[5, 5, 5, 5], BPF_ANY, Some(2)).expect("existing");
    assert_eq!(m.peek(&[1, 0, 0, 0]), Some(vec![0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 0, 0, 0, 0, 5, 5, 5, 5, 0, 0, 0, 0]));
}

#[test]
fn queues_and_stacks_keep_their_order_and_bound() {
    let mut q = Map::new(def(&spec("q", 22, 0, 4, 2, 0)), 1).expect("queue");
    let mut st = Map::new(def(&spec("s", 23, 0, 4, 2, 0)), 1).expect("stack");
    for m in [&mut q, &mut st] {
        m.push(&[1, 0, 0, 0], BPF_ANY).expect("1");
        m.push(&[2, 0, 0, 0], BPF_ANY).expect("2");
        assert_eq!(m.push(&[3, 0, 0, 0], BPF_ANY), Err(7), "full without BPF_EXIST");
        m.push(&[3, 0, 0, 0], BPF_EXIST).expect("drops the oldest");
    }
    assert_eq!(q.pop(true), Ok(vec![2, 0, 0, 0]));
    assert_eq!(st.pop(false), Ok(vec![3, 0, 0, 0]));
    assert_eq!(st.pop(true), Ok(vec![3, 0, 0, 0]));
    assert_eq!(st.pop(true), Ok(vec![2, 0, 0, 0]));
    assert_eq!(st.pop(true), Err(2));
}

#[test]
fn ring_buffers_keep_committed_records_in_order_within_their_size() {
    // 64 bytes of ring: each record takes an 8-byte header, rounded to 8.
    let mut rb = Map::new(def(&spec("rb", 27, 0, 0, 64, 0)), 1).expect("ringbuf");
    rb.ringbuf_output(&[1, 2, 3]).expect("16 bytes");
    let p = rb.ringbuf_reserve(10).expect("24 bytes");
    // SAFETY: the reservation is 10 bytes at `p`, alive until committed.
    unsafe { *p = 9 };
    assert!(rb.ringbuf_reserve(20).is_none(), "32 more bytes do not fit in the 24 left");
    let q = rb.ringbuf_reserve(4).expect("16 bytes");
    assert!(rb.ringbuf_commit(q as usize, false), "discarded");
    assert!(rb.ringbuf_commit(p as usize, true), "submitted");
    assert!(!rb.ringbuf_commit(p as usize, true), "twice");
    let records: Vec<Vec<u8>> = rb.dump().into_iter().map(|(_, v)| v.concat()).collect();
    assert_eq!(records, vec![vec![1, 2, 3], vec![9, 0, 0, 0, 0, 0, 0, 0, 0, 0]]);
    assert_eq!(rb.ringbuf_output(&[0; 20]), Err(11), "EAGAIN when full");
}
