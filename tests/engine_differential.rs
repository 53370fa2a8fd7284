//! The kernel and the userspace engine agree: every example, every frame
//! of the tcpdump corpus, the same verdict, the same output bytes, and the
//! same map contents after each capture. The helpers and stock profiles
//! run in both; the enetstl profile, whose kfuncs need a module this
//! kernel cannot load, runs in the engine and is held to the kernel's
//! helpers run (their sketches are byte-identical by contract).

mod common;

use std::collections::BTreeMap;

use common::corpus::{XDP_SINGLE_BUFFER_MAX, ethernet_captures};
use common::{build_file_for, display_name, nf_files};
use nfl_compiler::schema::Schema;
use nfl_compiler::target::Target;
use nfl_runtime::engine::env::World;
use nfl_runtime::engine::{Engine, Options};
use nfl_runtime::mapops::possible_cpus;

type Dump = BTreeMap<String, Vec<(Vec<u8>, Vec<u8>)>>;

/// Maps compared after every capture: all but big arrays (whose every
/// slot a dump lists), which are compared once, at the end.
const SMALL_ARRAY: u32 = 1024;

/// The maps worth comparing: not prog arrays (program ids) nor queues
/// (user space cannot list them without popping).
fn compared(schema: &Schema, all: bool) -> Vec<&nfl_compiler::schema::MapSchema> {
    schema
        .maps
        .iter()
        .filter(|m| !matches!(m.kind.as_str(), "prog_array" | "queue"))
        .filter(|m| all || !m.kind.ends_with("array") || m.max_entries <= SMALL_ARRAY)
        .collect()
}

/// Blank what holds `bpf_ktime_get_ns` readings: a meter's whole value
/// (tokens refill with time) and an idle map's last-seen stamp.
fn mask_time(schema: &Schema, map: &str, value: &mut [u8]) {
    if schema.meters.iter().any(|m| m.name == map) {
        value.fill(0);
    }
    if schema.state_maps.iter().any(|m| m.name == map && m.idle_ns.is_some()) && value.len() >= 16 {
        value[8..16].fill(0);
    }
}

fn kernel_dump(prog: &nfl_runtime::LoadedProgram, schema: &Schema, all: bool) -> Dump {
    let maps = nfl_runtime::state::MapSet::from_loaded(prog, schema).expect("maps");
    let mut out = Dump::new();
    for m in compared(schema, all) {
        let mut entries = maps.dump(&m.name).unwrap_or_else(|e| panic!("dump {}: {e}", m.name));
        for (_, v) in &mut entries {
            mask_time(schema, &m.name, v);
        }
        entries.sort();
        out.insert(m.name.clone(), entries);
    }
    out
}

/// The engine's maps in the kernel's user-space format: per-CPU values
/// each padded to 8 bytes, one after another.
fn engine_dump(engine: &mut Engine, schema: &Schema, all: bool) -> Dump {
    let mut out = Dump::new();
    for m in compared(schema, all) {
        let map = engine.maps().by_name(&m.name).unwrap_or_else(|| panic!("engine lacks map {}", m.name));
        let per_cpu = map.is_percpu();
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = map
            .dump()
            .into_iter()
            .map(|(k, vals)| {
                let mut v = Vec::new();
                for mut x in vals {
                    if per_cpu {
                        x.resize(x.len().div_ceil(8) * 8, 0);
                    }
                    v.extend(x);
                }
                mask_time(schema, &m.name, &mut v);
                (k, v)
            })
            .collect();
        entries.sort();
        out.insert(m.name.clone(), entries);
    }
    out
}

/// The first difference between two dumps, readably, over the maps both
/// builds declare alike.
fn dump_diff(kernel: &Dump, engine: &Dump, same_shape: impl Fn(&str) -> bool) -> Option<String> {
    for (name, k) in kernel.iter().filter(|(n, _)| same_shape(n)) {
        let Some(e) = engine.get(name) else { continue };
        if k != e {
            let first = k.iter().zip(e.iter()).find(|(a, b)| a != b);
            return Some(format!(
                "map `{name}`: kernel has {} entries, engine {}; first differing: {first:02x?}",
                k.len(),
                e.len()
            ));
        }
    }
    None
}

struct Pair {
    label: String,
    engine: Engine,
    schema: Schema,
}

/// One example through the corpus: the kernel per kernel profile, and an
/// engine per profile beside the kernel run it answers to. Returns
/// (frames, failures).
fn example_agrees(path: &std::path::Path, captures: &[(std::path::PathBuf, nfl_runtime::pcap::Capture)]) -> (usize, Vec<String>) {
    let world = World { cpu: 0, nr_cpus: possible_cpus() as u32, real_clock: true, ..World::default() };
    let mut failures = Vec::new();
    let mut frames = 0;
    for kernel_target in [Target::Helpers, Target::Stock] {
        let Ok(build) = build_file_for(path, kernel_target) else {
            eprintln!("{}: does not build for {kernel_target}; skipped", display_name(path));
            continue;
        };
        let prog = nfl_runtime::load(&build.object, Some(&build.checked.hir.name)).expect("load");
        nfl_runtime::state::init_maps(&prog, &build.object).expect("fill");
        let schema = build.schema.clone();
        // enetstl lowers some objects as helpers does and others as stock
        // does: it answers to both kernel runs, map by map where the maps
        // have the same shape (`dump_diff`).
        let engine_targets = [kernel_target, Target::Enetstl];
        let mut pairs: Vec<Pair> = Vec::new();
        for t in engine_targets {
            let Ok(b) = build_file_for(path, t) else { continue };
            let engine = Engine::new(&b.object, Options { world, ..Options::default() })
                .unwrap_or_else(|e| panic!("{} ({t}): {e}", display_name(path)));
            pairs.push(Pair { label: format!("engine {t} vs kernel {kernel_target}"), engine, schema: b.schema });
        }
        for (cap_path, cap) in captures {
            for (i, frame) in cap.frames.iter().enumerate() {
                if !(nfl_runtime::testrun::MIN_PACKET_LEN..=XDP_SINGLE_BUFFER_MAX).contains(&frame.len()) {
                    continue;
                }
                let Ok(k) = prog.test_run(frame, 1) else { continue };
                frames += 1;
                for p in &mut pairs {
                    match p.engine.run(frame) {
                        Ok(e) if e.retval == k.retval && e.data_out == k.data_out => {}
                        Ok(e) => failures.push(format!(
                            "{} {}: {}#{i}: kernel retval {} ({} bytes), engine retval {} ({} bytes)",
                            display_name(path),
                            p.label,
                            display_name(cap_path),
                            k.retval,
                            k.data_out.len(),
                            e.retval,
                            e.data_out.len()
                        )),
                        Err(f) => failures.push(format!("{} {}: {}#{i}: {f}", display_name(path), p.label, display_name(cap_path))),
                    }
                }
            }
            let last = std::ptr::eq(cap_path, &captures[captures.len() - 1].0);
            let kd = kernel_dump(&prog, &schema, last);
            for p in &mut pairs {
                let ed = engine_dump(&mut p.engine, &p.schema, last);
                let same = |n: &str| {
                    let shape = |s: &Schema| s.maps.iter().find(|m| m.name == n).map(|m| (m.kind.clone(), m.key_size, m.value_size, m.max_entries));
                    shape(&schema) == shape(&p.schema)
                };
                if let Some(d) = dump_diff(&kd, &ed, same) {
                    failures.push(format!("{} {}: after {}: {d}", display_name(path), p.label, display_name(cap_path)));
                }
            }
            if failures.len() > 20 {
                return (frames, failures);
            }
        }
    }
    (frames, failures)
}

#[test]
fn kernel_and_engine_agree_on_every_example_and_corpus_frame() {
    if !nfl_runtime::require_kernel("kernel_and_engine_agree_on_every_example_and_corpus_frame") {
        return;
    }
    // Per-CPU values: the kernel's test runs happen on this thread's CPU,
    // which the engine is told.
    nfl_runtime::testrun::pin_thread_to_cpu(0).expect("pin to CPU 0");
    let captures = ethernet_captures();
    let mut failures = Vec::new();
    let mut total = 0;
    for path in nf_files("examples") {
        let (frames, f) = example_agrees(&path, &captures);
        eprintln!("{}: {frames} frames compared, {} differences", display_name(&path), f.len());
        total += frames;
        failures.extend(f);
    }
    eprintln!("{total} (example, profile, frame) runs compared");
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
}
