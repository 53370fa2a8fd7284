//! Stage boundaries: what one tail-called stage costs per packet.
//! `cargo bench --bench stages`.
//!
//! One program (std.net parser, 16 top-level rules on the UDP port, a
//! verdict on the count) built whole and cut into 2, 3, 5, 9 and 17
//! stages at evenly spaced statement boundaries. Every build runs the same
//! UDP frame with BPF_PROG_TEST_RUN (`repeat` 1,000,000), all builds and
//! the empty program interleaved in each of `rounds` rounds with the order
//! rotated every round; per build the median and the interquartile mean
//! (IQM) of the rounds. A boundary's cost is the IQM's excess over the
//! whole program divided by the number of boundaries, and the slope of a
//! least-squares line through all builds. Each boundary is: store the
//! carried values in the per-CPU scratch map, `bpf_tail_call`, re-run the
//! parser, load the values, re-test the headers known valid.
//!
//! `NFL_BENCH_QUICK=1`: a smoke run (3 rounds, repeat 10,000).

mod common;
mod measure;

use common::*;
use measure::*;
use nfl_compiler::driver::{self, Build};

const RULES: usize = 16;

/// With `carry`, the rules count in `meta.hits` (one value crosses each
/// boundary); without, each rule drops or goes on (nothing crosses).
fn source(carry: bool) -> String {
    let mut s = String::from("import std.net\n\nmeta {\n    hits: u32\n}\n\ncontrol staged(xdp) {\n    if !udp.valid { pass }\n");
    if !carry {
        s = s.replace("meta {\n    hits: u32\n}\n\n", "");
    }
    for i in 0..RULES {
        let action = if carry { "meta.hits += 1" } else { "drop" };
        s.push_str(&format!("    if udp.dst_port == {} {{ {action} }}\n", 1000 + i));
    }
    if carry {
        s.push_str("    if meta.hits > 8 { drop }\n");
    }
    s.push_str("    pass\n}\n");
    s
}

/// The program cut before `boundaries` evenly spaced rules (0: whole).
fn build(boundaries: usize, carry: bool) -> Build {
    let mut checked = driver::check("staged.nf", &source(carry), &mut StdOnly).unwrap_or_else(|_| panic!("checks"));
    checked.hir.stage_cuts = (1..=boundaries).map(|k| (1 + (k - 1) * RULES / boundaries.max(1)) as u32).collect();
    let b = driver::build_checked_limited(checked, nfl_compiler::Target::Helpers, &nfl_compiler::split::Limits::new(None))
        .unwrap_or_else(|_| panic!("builds with {boundaries} boundaries"));
    assert_eq!(b.plan.as_ref().map_or(1, |p| p.len()), boundaries + 1);
    b
}

fn main() {
    if let Err(why) = nfl_runtime::bpf_available() {
        eprintln!("=== stages: BPF is not usable here ({why}); nothing to measure ===");
        return;
    }
    let quick = std::env::var_os("NFL_BENCH_QUICK").is_some();
    let (rounds, repeat) = if quick { (3, 10_000) } else { (21, 1_000_000) };
    for carry in [true, false] {
        println!("\n{}", if carry { "one value carried (meta.hits):" } else { "nothing carried (no scratch map access):" });
        measure(carry, rounds, repeat);
    }
}

fn measure(carry: bool, rounds: usize, repeat: u32) {
    let counts = [0usize, 1, 2, 4, 8, 16];
    let builds: Vec<Build> = counts.iter().map(|&k| build(k, carry)).collect();
    let progs: Vec<_> = builds.iter().map(|b| load(&b.object, "staged")).collect();
    let empty = load(&build_nf("empty.nf", "control empty(xdp) { pass }").object, "empty");
    let frame = ipv4_packet(&[], Ipv4::new(17, v4(10, 0, 0, 1), v4(10, 0, 0, 2)), &udp_header(4000, 1003, 18), &[0u8; 18]);
    let verdicts: Vec<u32> = progs.iter().map(|p| p.test_run(&frame, 1).expect("run").retval).collect();
    assert!(verdicts.iter().all(|v| *v == verdicts[0]), "the builds disagree: {verdicts:?}");
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); progs.len() + 1];
    for r in 0..rounds {
        for i in 0..=progs.len() {
            let j = (i + r) % (progs.len() + 1);
            let p = progs.get(j).unwrap_or(&empty);
            times[j].push(f64::from(p.test_run(&frame, repeat).expect("run").duration_ns));
        }
    }
    let floor = iqm(&mut times[progs.len()].clone());
    let whole = iqm(&mut times[0].clone());
    println!("stage boundaries: {rounds} rounds, repeat {repeat}, empty program {floor:.2} ns (IQM)");
    println!("| stages | insns (all stages) | verifier processed (all) | median ns | IQM ns | per boundary ns |");
    println!("|---|---|---|---|---|---|");
    let mut points = Vec::new();
    for (k, (b, p)) in builds.iter().zip(&progs).enumerate() {
        let insns: usize = b.all_stages().iter().map(|(_, cg)| cg.estimate.insns).sum();
        let processed: u32 = std::iter::once(p.verified_insns()).chain(p.stages().iter().map(|s| s.verified_insns)).map(|n| n.unwrap_or(0)).sum();
        let (med, q) = (median(&mut times[k].clone()), iqm(&mut times[k].clone()));
        let per = if counts[k] == 0 { "-".to_string() } else { format!("{:.2}", (q - whole) / counts[k] as f64) };
        println!("| {} | {insns} | {processed} | {med:.1} | {q:.2} | {per} |", counts[k] + 1);
        points.push((counts[k] as f64, q));
    }
    let n = points.len() as f64;
    let (sx, sy) = (points.iter().map(|p| p.0).sum::<f64>(), points.iter().map(|p| p.1).sum::<f64>());
    let sxx = points.iter().map(|p| p.0 * p.0).sum::<f64>();
    let sxy = points.iter().map(|p| p.0 * p.1).sum::<f64>();
    let slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    println!("least-squares slope: {slope:.2} ns per stage boundary (goal <= 5 ns)");
}
