//! nflc against hand-written C: `cargo bench --bench compare`.
//!
//! For `examples/parse_only.nf` and `examples/static_filter.nf` and their C
//! twins in `bench/c/` (proved equal by `tests/c_twins.rs`):
//! - compile time: `nfl_compiler::driver::build` in process (median of 50) and
//!   `clang -O2 -g -target bpf -c` (median of 5, process spawn included);
//! - load time (aya + verifier, median of 5), xlated instructions, the
//!   verifier's processed instructions, JIT bytes, stack bytes;
//! - ns/packet from `BPF_PROG_TEST_RUN` with `repeat` >= 1e6 on a few
//!   packets, in interleaved rounds (nflc, C, empty, nflc, C, empty, ...),
//!   median over the rounds. The kernel reports the mean per repetition in
//!   whole nanoseconds, so the interquartile mean over the rounds is printed
//!   next to the median for sub-nanosecond resolution. (Wall-clock time of
//!   the syscall is no use: the kernel's timer stops while the test run
//!   yields the CPU, the wall clock does not, and other jobs share the CPUs.)
//! - the empty XDP program (`r0 = 2; exit`) is the floor;
//! - instructions executed per packet, counted by running each object's code
//!   in a small interpreter (`bench/interp.rs`): a deterministic companion
//!   to the noisy nanoseconds.
//!
//! `NFL_BENCH_QUICK=1`: fewer rounds and repetitions, for a smoke run.

mod common;
mod interp;
mod measure;

use std::time::Instant;

use common::*;
use measure::*;

struct Settings {
    rounds: usize,
    repeat: u32,
    nf_builds: usize,
    clang_builds: usize,
    loads: usize,
}

impl Settings {
    fn from_env() -> Settings {
        if std::env::var("NFL_BENCH_QUICK").is_ok_and(|v| v == "1") {
            Settings {
                rounds: 3,
                repeat: 100_000,
                nf_builds: 5,
                clang_builds: 2,
                loads: 2,
            }
        } else {
            Settings {
                rounds: 31,
                repeat: 2_000_000,
                nf_builds: 50,
                clang_builds: 5,
                loads: 5,
            }
        }
    }
}

/// The code of program `name` in an object.
fn object_code(obj: &[u8], name: &str) -> Vec<nfl_compiler::bpf::Insn> {
    let progs = nfl_compiler::elf::read_programs(obj).unwrap_or_else(|e| panic!("{name}: {e}"));
    progs
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no program `{name}` in its object"))
        .insns
}

/// (instructions executed, jumps taken) on `pkt`, checking the verdict.
fn executed(insns: &[nfl_compiler::bpf::Insn], pkt: &[u8], want: u32, what: &str) -> (u64, u64) {
    let mut copy = pkt.to_vec();
    let run = interp::run(insns, &mut copy).unwrap_or_else(|e| panic!("{what}: interpreter: {e}"));
    assert_eq!(run.retval, u64::from(want), "{what}: interpreter verdict");
    (run.executed, run.taken)
}

struct PacketRow {
    example: &'static str,
    packet: &'static str,
    nf: (f64, f64),
    c: (f64, f64),
    floor: (f64, f64),
    nf_executed: (u64, u64),
    c_executed: (u64, u64),
}

struct ExampleRow {
    example: &'static str,
    nf_build_ms: f64,
    nf_build_min_ms: f64,
    clang_ms: f64,
    nf_load_ms: f64,
    c_load_ms: f64,
    nf_xlated: u32,
    c_xlated: u32,
    nf_processed: Option<u32>,
    c_processed: Option<u32>,
    nf_jited: u32,
    c_jited: u32,
    nf_stack: u32,
    c_stack: Option<u32>,
}

fn main() {
    // `cargo bench` passes `--bench`; other arguments are ignored.
    let s = Settings::from_env();
    if !bench_ready("compare") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    println!(
        "nflc vs C: {} interleaved rounds, repeat {}, nflc build x{}, clang x{}{}",
        s.rounds,
        s.repeat,
        s.nf_builds,
        s.clang_builds,
        if s.rounds < 15 {
            " (NFL_BENCH_QUICK: smoke run, numbers are rough)"
        } else {
            ""
        }
    );

    let empty_obj = compile_twin("empty", dir.path(), &[]).unwrap_or_else(|e| panic!("{e}"));
    let empty = load(&empty_obj, "empty");

    let packets = bench_packets();
    let mut packet_rows = Vec::new();
    let mut example_rows = Vec::new();

    for example in ["parse_only", "static_filter"] {
        let text = example_text(example);
        let file = format!("{example}.nf");

        // Compile times.
        let mut build = None;
        let mut nf_ms: Vec<f64> = (0..s.nf_builds)
            .map(|_| ms(|| build = Some(build_nf(&file, &text))))
            .collect();
        let build = build.expect("at least one build");
        let src = c_dir().join(format!("{example}.c"));
        let c_obj_path = dir.path().join(format!("{example}.o"));
        let mut clang_ms: Vec<f64> = (0..s.clang_builds)
            .map(|_| ms(|| compile_c(&src, &c_obj_path).unwrap_or_else(|e| panic!("{e}"))))
            .collect();
        let c_obj = std::fs::read(&c_obj_path).expect("read C object");

        // Load times; keep the last load of each.
        let mut nf_prog = None;
        let mut nf_load: Vec<f64> = (0..s.loads)
            .map(|_| ms(|| nf_prog = Some(load(&build.object, example))))
            .collect();
        let mut c_prog = None;
        let mut c_load: Vec<f64> = (0..s.loads)
            .map(|_| ms(|| c_prog = Some(load(&c_obj, example))))
            .collect();
        let (nf_prog, c_prog) = (nf_prog.expect("loaded"), c_prog.expect("loaded"));
        let nf_insns = object_code(&build.object, example);
        let c_insns = object_code(&c_obj, example);

        example_rows.push(ExampleRow {
            example,
            nf_build_ms: median(&mut nf_ms),
            nf_build_min_ms: nf_ms.iter().copied().fold(f64::INFINITY, f64::min),
            clang_ms: median(&mut clang_ms),
            nf_load_ms: median(&mut nf_load),
            c_load_ms: median(&mut c_load),
            nf_xlated: nf_prog.xlated_insn_count(),
            c_xlated: c_prog.xlated_insn_count(),
            nf_processed: nf_prog.verified_insns(),
            c_processed: c_prog.verified_insns(),
            nf_jited: nf_prog.jited_len(),
            c_jited: c_prog.jited_len(),
            nf_stack: build.codegen.alloc.stack_bytes,
            c_stack: c_stack_bytes(&c_obj_path),
        });

        // ns/packet, interleaved.
        for (pname, pkt, filter_verdict) in &packets {
            let want = if example == "static_filter" {
                *filter_verdict
            } else {
                2
            };
            let what = |who: &str| format!("{example}/{who} on {pname}");
            let nf_executed = executed(&nf_insns, pkt, want, &what("nflc"));
            let c_executed = executed(&c_insns, pkt, want, &what("C"));
            // One warm-up run of each, not recorded.
            run_once(&nf_prog, pkt, s.repeat / 10, want, &what("nflc"));
            run_once(&c_prog, pkt, s.repeat / 10, want, &what("C"));
            let (mut nf_t, mut c_t, mut floor_t) =
                (Timing::default(), Timing::default(), Timing::default());
            for round in 0..s.rounds {
                // Alternate who goes first, so neither always follows the floor.
                if round % 2 == 0 {
                    nf_t.push(run_once(&nf_prog, pkt, s.repeat, want, &what("nflc")));
                    c_t.push(run_once(&c_prog, pkt, s.repeat, want, &what("C")));
                } else {
                    c_t.push(run_once(&c_prog, pkt, s.repeat, want, &what("C")));
                    nf_t.push(run_once(&nf_prog, pkt, s.repeat, want, &what("nflc")));
                }
                floor_t.push(run_once(&empty, pkt, s.repeat, 2, "empty"));
            }
            packet_rows.push(PacketRow {
                example,
                packet: pname,
                nf: nf_t.summary(),
                c: c_t.summary(),
                floor: floor_t.summary(),
                nf_executed,
                c_executed,
            });
        }
    }

    // Report.
    println!();
    println!(
        "### ns/packet (BPF_PROG_TEST_RUN, median of {} interleaved rounds, repeat {})",
        s.rounds, s.repeat
    );
    println!();
    println!(
        "| example | packet | nflc ns | C ns | ratio | nflc IQM | C IQM | IQM ratio | floor IQM | ratio above floor | insns run nflc | insns run C | jumps taken nflc | jumps taken C |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &packet_rows {
        let above = if r.c.1 - r.floor.1 > 0.5 {
            format!("{:.2}", (r.nf.1 - r.floor.1) / (r.c.1 - r.floor.1))
        } else {
            "n/a".into()
        };
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.1} | {:.1} | {:.2} | {:.1} | {} | {} | {} | {} | {} |",
            r.example,
            r.packet,
            r.nf.0,
            r.c.0,
            r.nf.0 / r.c.0,
            r.nf.1,
            r.c.1,
            r.nf.1 / r.c.1,
            r.floor.1,
            above,
            r.nf_executed.0,
            r.c_executed.0,
            r.nf_executed.1,
            r.c_executed.1
        );
    }
    let mut floor_k: Vec<f64> = packet_rows.iter().map(|r| r.floor.0).collect();
    println!();
    println!(
        "floor (empty XDP program, r0 = 2; exit): {:.0} ns (median over the packets); {} xlated insns",
        median(&mut floor_k),
        empty.xlated_insn_count()
    );

    println!();
    println!("### code");
    println!();
    println!(
        "| example | xlated nflc | xlated C | ratio | processed nflc | processed C | jited B nflc | jited B C | stack B nflc | stack B C |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &example_rows {
        println!(
            "| {} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {} |",
            r.example,
            r.nf_xlated,
            r.c_xlated,
            f64::from(r.nf_xlated) / f64::from(r.c_xlated),
            opt(r.nf_processed),
            opt(r.c_processed),
            r.nf_jited,
            r.c_jited,
            r.nf_stack,
            opt(r.c_stack)
        );
    }

    println!();
    println!("### compile and load");
    println!();
    println!(
        "| example | nflc build ms (median of {}) | nflc build ms (min) | clang -O2 -g ms (median of {}) | load nflc ms | load C ms |",
        s.nf_builds, s.clang_builds
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &example_rows {
        println!(
            "| {} | {:.3} | {:.3} | {:.1} | {:.2} | {:.2} |",
            r.example, r.nf_build_ms, r.nf_build_min_ms, r.clang_ms, r.nf_load_ms, r.c_load_ms
        );
    }

    println!();
    println!("### goals");
    println!();
    let worst_ns = packet_rows
        .iter()
        .map(|r| r.nf.0 / r.c.0)
        .fold(0.0, f64::max);
    let worst_iqm = packet_rows
        .iter()
        .map(|r| r.nf.1 / r.c.1)
        .fold(0.0, f64::max);
    let worst_insns = example_rows
        .iter()
        .map(|r| f64::from(r.nf_xlated) / f64::from(r.c_xlated))
        .fold(0.0, f64::max);
    let worst_build = example_rows
        .iter()
        .map(|r| r.nf_build_ms)
        .fold(0.0, f64::max);
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "- ns/packet <= 1.1x C: worst {worst_ns:.2}x (medians), {worst_iqm:.2}x (IQM): {}",
        verdict(worst_ns <= 1.1)
    );
    println!(
        "- xlated insns <= 1.2x C: worst {worst_insns:.2}x: {}",
        verdict(worst_insns <= 1.2)
    );
    println!(
        "- nflc build < 10 ms: worst {worst_build:.3} ms: {}",
        verdict(worst_build < 10.0)
    );
    println!();
    println!("total bench time: {:.1} s", started.elapsed().as_secs_f64());
}
