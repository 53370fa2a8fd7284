//! The kernel and the userspace engine agree: every example, every frame
//! of the tcpdump corpus, the same verdict, the same output bytes, and the
//! same map contents after each capture. The helpers and stock profiles
//! run in both; the enetstl profile, whose kfuncs need a module this
//! kernel cannot load, runs in the engine and is held to both kernel runs
//! map by map where the maps have the same shape. The engine runs in both
//! modes, JIT and interpreter.

mod common;

use common::corpus::{XDP_SINGLE_BUFFER_MAX, ethernet_captures};
use common::{build_file_for, display_name, nf_files};
use nfl_compiler::schema::Schema;
use nfl_compiler::target::Target;
use nfl_runtime::engine::env::World;
use nfl_runtime::engine::compare::{dump_diff, engine_dump, kernel_dump, same_shape};
use nfl_runtime::engine::{Engine, Mode, Options};
use nfl_runtime::mapops::possible_cpus;

struct Pair {
    label: String,
    engine: Engine,
    schema: Schema,
}

/// One example through the corpus: the kernel per kernel profile, and an
/// engine per profile beside the kernel run it answers to. Returns
/// (engine runs compared with a kernel run, failures).
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
            // Both modes: the JIT, and the interpreter it is checked against.
            for &mode in Mode::ALL {
                let engine = Engine::new(&b.object, Options { world, mode })
                    .unwrap_or_else(|e| panic!("{} ({t}, {}): {e}", display_name(path), mode.name()));
                let label = format!("engine {t} ({}) vs kernel {kernel_target}", mode.name());
                pairs.push(Pair { label, engine, schema: b.schema.clone() });
            }
        }
        for (cap_path, cap) in captures {
            for (i, frame) in cap.frames.iter().enumerate() {
                if !(nfl_runtime::testrun::MIN_PACKET_LEN..=XDP_SINGLE_BUFFER_MAX).contains(&frame.len()) {
                    continue;
                }
                let Ok(k) = prog.test_run(frame, 1) else { continue };
                frames += pairs.len();
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
            let kd = kernel_dump(&prog, &schema, last).expect("kernel maps");
            for p in &mut pairs {
                let ed = engine_dump(&mut p.engine, &p.schema, last).expect("engine maps");
                if let Some(d) = dump_diff(&kd, &ed, |n| same_shape(&schema, &p.schema, n)) {
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
        eprintln!("{}: {frames} engine runs compared with the kernel's, {} differences", display_name(&path), f.len());
        total += frames;
        failures.extend(f);
    }
    eprintln!("{total} engine runs (example, profile, mode, frame) compared with the kernel's");
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
}
