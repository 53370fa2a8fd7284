//! The userspace engine against the kernel's JIT, on the same objects and
//! packets in one run: `cargo bench --bench engine`.
//!
//! For each example, every packet of its `.test` file runs `repeat` times
//! in the kernel (`BPF_PROG_TEST_RUN`, which reports the mean per run) and
//! in the engine (`Engine::run_repeat`, the same semantics: the packet
//! placed once, the program run `repeat` times, timed around the loop), in
//! each engine mode, interleaved over `rounds` rounds. Per example: the
//! mean over its packets of each packet's median round, and the ratio
//! engine / kernel, and each side's time above its floor (the empty
//! program, measured the same way: the kernel's test-run loop costs about
//! 21 ns a run here, the engine's about 9). Also the time `Engine::new` takes per program (read,
//! link, fill the maps, and in JIT mode compile), the median of 5.
//!
//! Each line ends with the program's xlated instructions and the verifier's
//! processed count.
//!
//! `NFL_BENCH_QUICK=1`: a smoke run (3 rounds, repeat 2,000);
//! `NFL_BENCH_ONLY=router,nat`: only those examples; `NFL_BENCH_MODES=jit`:
//! only that engine mode.

mod common;
mod measure;

use common::*;
use measure::*;
use nfl_runtime::engine::{Engine, Mode, Options};

/// The empty program (the floor: each side's cost of one run), the
/// parse/filter examples the goal is about, then the others.
const EXAMPLES: &[&str] = &["empty", "parse_only", "static_filter", "firewall", "ipv6_fw", "router", "rewrite", "ddos", "nat", "l4lb", "heavy_hitters"];

fn build(name: &str) -> nfl_compiler::driver::Build {
    if name == "empty" {
        return build_nf("empty.nf", "control empty(xdp) {\n    pass\n}\n");
    }
    let path = root().join("examples").join(format!("{name}.nf"));
    let text = std::fs::read_to_string(&path).expect("read example");
    let yaml = path.with_extension("yaml");
    let config = yaml.is_file().then(|| std::fs::read_to_string(&yaml).expect("read config"));
    nfl_compiler::driver::build_with(&format!("{name}.nf"), &text, &mut StdOnly, config.as_deref().map(|c| ("config.yaml", c)))
        .unwrap_or_else(|f| panic!("{name}: {}", nfl_syntax::diag::render_all(&f.diagnostics, &f.sources, false)))
}

fn packets(name: &str, build: &nfl_compiler::driver::Build) -> Vec<Vec<u8>> {
    if name == "empty" {
        let mut frame = vec![0u8; 64];
        frame[12] = 0x08;
        return vec![frame];
    }
    let path = root().join("examples").join(format!("{name}.test"));
    let text = std::fs::read_to_string(&path).expect("read .test");
    let mut sources = build.checked.sources.clone();
    let (_, cases, _) = nfl_runtime::testfile::parse_source(&mut sources, "t.test", &text);
    cases.into_iter().map(|c| c.input).filter(|p| p.len() >= nfl_runtime::testrun::MIN_PACKET_LEN).collect()
}

fn options(mode: Mode) -> Options {
    let world = nfl_runtime::engine::env::World { real_clock: true, ..Default::default() };
    Options { mode, world }
}

/// The engine modes measured (`NFL_BENCH_MODES=jit` for one).
fn modes() -> Vec<(Mode, &'static str)> {
    let only = std::env::var("NFL_BENCH_MODES").ok();
    Mode::ALL.iter().filter(|m| only.as_ref().is_none_or(|o| o.split(',').any(|x| x == m.name()))).map(|m| (*m, m.name())).collect()
}

fn main() {
    if let Err(why) = nfl_runtime::bpf_available() {
        eprintln!("=== engine bench: BPF is not usable here ({why}); nothing to compare against ===");
        return;
    }
    let quick = std::env::var_os("NFL_BENCH_QUICK").is_some();
    let (rounds, repeat) = if quick { (3, 2_000) } else { (7, 200_000) };
    nfl_runtime::testrun::pin_thread_to_cpu(0).expect("pin");
    println!("engine vs kernel JIT: {rounds} rounds, repeat {repeat}; ns per run (mean over the example's packets of the median round)");
    let header: Vec<String> = modes().iter().map(|(_, n)| format!("{n:>9} {:>6}", "ratio")).collect();
    println!("{:<14} {:>4} {:>9} {}   above the floor: kernel, {}   compile ms/program ({})", "example", "pkts", "kernel", header.join(" "), modes().iter().map(|m| m.1).collect::<Vec<_>>().join(", "), modes().iter().map(|m| m.1).collect::<Vec<_>>().join(", "));
    // The empty program's times: what one run costs each side.
    let mut floor: Vec<f64> = Vec::new();
    let only = std::env::var("NFL_BENCH_ONLY").ok();
    for name in EXAMPLES.iter().filter(|n| only.as_ref().is_none_or(|o| o.split(',').any(|x| x == **n))) {
        let b = build(name);
        let pkts = packets(name, &b);
        let prog = load(&b.object, name);
        nfl_runtime::state::init_maps(&prog, &b.object).expect("fill");
        let mut engines: Vec<Engine> = modes()
            .iter()
            .map(|(m, _)| Engine::new(&b.object, options(*m)).expect("engine"))
            .collect();
        // Stateful examples (meters) may part ways near a bucket's edge:
        // the engine reads the same clock as the kernel, microseconds later.
        let mut differ = 0;
        // timings[p][0] kernel, [p][1 + m] engine mode m.
        let mut timings: Vec<Vec<Timing>> = (0..pkts.len()).map(|_| (0..=engines.len()).map(|_| Timing::default()).collect()).collect();
        for _ in 0..rounds {
            for (p, pkt) in pkts.iter().enumerate() {
                let k = nfl_runtime::test_run(prog.fd(), pkt, repeat).expect("test run");
                timings[p][0].push(f64::from(k.duration_ns));
                for (m, e) in engines.iter_mut().enumerate() {
                    let (r, ns) = e.run_repeat(pkt, repeat).unwrap_or_else(|f| panic!("{name}: {f}"));
                    differ += usize::from(r.retval != k.retval);
                    timings[p][1 + m].push(ns);
                }
            }
        }
        let mean_of = |col: usize, t: &mut Vec<Vec<Timing>>| t.iter_mut().map(|row| row[col].summary().0).sum::<f64>() / pkts.len() as f64;
        let all: Vec<f64> = (0..=engines.len()).map(|c| mean_of(c, &mut timings)).collect();
        if floor.is_empty() {
            floor = all.clone();
        }
        let kernel = all[0];
        let cols: Vec<String> = all[1..].iter().map(|ns| format!("{ns:>9.1} {:>6.2}", ns / kernel)).collect();
        let net: Vec<String> = all.iter().zip(&floor).map(|(ns, f)| format!("{:.1}", ns - f)).collect();
        let compile: Vec<String> = modes()
            .iter()
            .map(|(m, _)| {
                let mut v: Vec<f64> = (0..5).map(|_| ms(|| drop(Engine::new(&b.object, options(*m)).expect("engine")))).collect();
                format!("{:.2}", median(&mut v))
            })
            .collect();
        let mut note = format!("   [{} insns, {} processed]", prog.xlated_insn_count(), opt(prog.verified_insns()));
        if differ > 0 {
            note.push_str(&format!(" ({differ} runs gave another verdict)"));
        }
        println!("{name:<14} {:>4} {kernel:>9.1} {}   {:<22} {}{note}", pkts.len(), cols.join(" "), net.join(", "), compile.join(", "));
    }
}
