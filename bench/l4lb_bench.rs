//! Run 9: `examples/l4lb.nf` (unsplit, config from `l4lb.yaml`: IP-in-IP)
//! against its hand-written C twin `bench/c/l4lb.c` (clang -O2 -g -target
//! bpf, and with -mcpu=v3), in one run. `cargo bench --bench l4lb`.
//!
//! IPv4 only: the twin leaves IPv6 out, and every packet here is an IPv4
//! TCP segment (64 bytes of payload) to the VIP 198.18.0.10:80 (group 0,
//! four backends, Maglev 65,537 slots); `tests/l4lb_twin.rs` proves the two
//! programs' output bytes, verdicts, counters and connection tables equal.
//!
//! The program grows the packet (`bpf_xdp_adjust_head(ctx, -20)`), and
//! BPF_PROG_TEST_RUN's repeat reruns on the same buffer without resetting
//! it: the second repetition sees the encapsulated packet (IPv4 protocol
//! 4, neither TCP nor UDP) and passes it, and so does every later one, so
//! a repeat run of the program as it is times the pass path, not the
//! balancer. The run shows this ("repeat check": XDP_PASS and one growth
//! of 20 bytes from repeat 2 on). So two ways of timing, both applied
//! alike to nflc and C:
//! - **repeat, shrink back**: both programs do the full work and then give
//!   the 20 bytes back (nflc: `outer_ipv4.set_invalid()` before `tx`; C:
//!   `-DL4LB_SHRINK_BACK`, the link layer moved back and
//!   `bpf_xdp_adjust_head(ctx, 20)`), so each repetition starts from the
//!   original frame. Tracked flows (the steady state). ns/packet = the
//!   kernel's mean over `repeat`, per round; rounds rotate the order of
//!   the builds and the empty program, round `r` on pool frame `r * 37 mod
//!   1024`. IQM, median and IQR of the rounds.
//! - **pool pass, repeat 1**: the programs as they are (and the shrink-back
//!   builds beside them), each of 1024 frames run once: the mean kernel ns
//!   per frame, which includes the kernel's clock reads around one run (the
//!   empty program shows that floor). One tracked frame run 1000 times
//!   (IQM of `rounds`; the steadiest repeat-1 figure), tracked flows
//!   (every build has seen the pool) and new flows (a fresh set of 1024 flows per pass, each
//!   build sees each once: Maglev pick and a conns insert). IQM of
//!   `pool_rounds` passes.
//!
//! Per build: xlated insns, the verifier's processed insns, JIT bytes,
//! stack bytes, compile ms (nflc in process, median of `nf_builds`; clang
//! as a process, median of `clang_builds`).
//!
//! `NFL_BENCH_QUICK=1`: a smoke run.

mod common;
mod l4lb;
mod measure;

use std::path::Path;
use std::time::Instant;

use common::*;
use l4lb::*;
use measure::*;
use nfl_runtime::LoadedProgram;

const POOL: usize = 1024;
const PAYLOAD: usize = 64;

struct Settings {
    quick: bool,
    rounds: usize,
    repeat: u32,
    pool_rounds: usize,
    nf_builds: usize,
    clang_builds: usize,
}

impl Settings {
    fn from_env() -> Settings {
        let quick = std::env::var("NFL_BENCH_QUICK").is_ok_and(|v| v == "1");
        let (rounds, repeat, pool_rounds, nf_builds, clang_builds) =
            if quick { (5, 100_000, 3, 3, 2) } else { (31, 1_000_000, 51, 15, 5) };
        Settings { quick, rounds, repeat, pool_rounds, nf_builds, clang_builds }
    }
}

struct Build {
    who: Who,
    shrink: bool,
    prog: LoadedProgram,
    build_ms: f64,
    stack: Option<u32>,
}

impl Build {
    fn label(&self) -> String {
        format!("{}{}", self.who.label(), if self.shrink { ", shrink back" } else { "" })
    }
}

fn median_ms(n: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..n).map(|_| ms(&mut f)).collect();
    median(&mut t)
}

/// nflc, C and C v3, as they are and shrinking back.
fn builds(s: &Settings, dir: &Path) -> Vec<Build> {
    let mut out = Vec::new();
    for shrink in [false, true] {
        let b = l4lb::build(shrink); // warm-up, not timed
        let build_ms = median_ms(s.nf_builds, || drop(l4lb::build(shrink)));
        out.push(Build {
            who: Who::Nflc,
            shrink,
            prog: load_nflc(&b),
            build_ms,
            stack: Some(b.codegen.alloc.stack_bytes),
        });
        for who in [Who::C, Who::CV3] {
            let v3 = who == Who::CV3;
            let build_ms = median_ms(s.clang_builds, || {
                compile_twin_cpu("l4lb", dir, &twin_defines(shrink), v3).unwrap_or_else(|e| panic!("{e}"));
            });
            let (prog, path) = load_twin(dir, &b, shrink, v3);
            out.push(Build { who, shrink, prog, build_ms, stack: c_stack_bytes(&path) });
        }
    }
    out
}

/// The mean kernel ns of one pass over `frames`, repeat 1 per frame.
fn pool_pass(prog: &LoadedProgram, frames: &[Vec<u8>], want: u32) -> f64 {
    frames.iter().map(|p| run_once(prog, p, 1, want, "pool pass")).sum::<f64>() / frames.len() as f64
}

fn frames(flows: &[Flow]) -> Vec<Vec<u8>> {
    flows.iter().map(|f| f.frame(PAYLOAD)).collect()
}

/// What repeat does to a program that grows the packet: the verdict and
/// output length of the last repetition, for a few repeat counts.
fn repeat_check(builds: &[Build], frame: &[u8]) {
    println!("### repeat check (a tracked flow's {}-byte frame; verdict and output length of the last repetition)", frame.len());
    println!();
    println!("| build | repeat 1 | repeat 12 | repeat 13 | repeat 1000 |");
    println!("|---|---|---|---|---|");
    for b in builds.iter().filter(|b| b.who != Who::CV3) {
        let cells: Vec<String> = [1, 12, 13, 1000]
            .iter()
            .map(|&n| {
                let r = nfl_runtime::test_run(b.prog.fd(), frame, n).expect("test run");
                let v = match r.retval {
                    XDP_TX => "TX",
                    XDP_DROP => "DROP",
                    XDP_PASS => "PASS",
                    _ => "other",
                };
                format!("{v}, {} B", r.data_out.len())
            })
            .collect();
        println!("| {} | {} |", b.label(), cells.join(" | "));
    }
    println!();
}

struct Times {
    /// Repeat rounds of the shrink-back builds (index into builds).
    runs: Vec<(usize, Timing)>,
    floor: Timing,
    tracked: Vec<Timing>,
    new: Vec<Timing>,
    floor_pool: Timing,
    /// Repeat 1, one frame 1000 times, per round.
    single: Vec<Timing>,
    floor_single: Timing,
}

fn time_all(s: &Settings, builds: &[Build], empty: &LoadedProgram, pool: &[Vec<u8>], started: Instant) -> Times {
    for b in builds {
        pool_pass(&b.prog, pool, XDP_TX); // every flow tracked from now on
    }
    let shrinking: Vec<usize> = (0..builds.len()).filter(|&i| builds[i].shrink).collect();
    let mut t = Times {
        runs: shrinking.iter().map(|&i| (i, Timing::default())).collect(),
        floor: Timing::default(),
        tracked: builds.iter().map(|_| Timing::default()).collect(),
        new: builds.iter().map(|_| Timing::default()).collect(),
        floor_pool: Timing::default(),
        single: builds.iter().map(|_| Timing::default()).collect(),
        floor_single: Timing::default(),
    };
    let n = shrinking.len() + 1;
    for round in 0..s.rounds {
        let pkt = &pool[(round * 37) % pool.len()];
        for k in 0..n {
            let at = (k + round) % n;
            match t.runs.get_mut(at) {
                Some((i, timing)) => {
                    let what = format!("{} round {round}", builds[*i].label());
                    timing.push(run_once(&builds[*i].prog, pkt, s.repeat, XDP_TX, &what));
                }
                None => t.floor.push(run_once(empty, pkt, s.repeat, XDP_PASS, "empty")),
            }
        }
        eprintln!("[{:6.1} s] round {}/{}", started.elapsed().as_secs_f64(), round + 1, s.rounds);
    }
    // Repeat 1, one tracked frame run 1000 times, every build.
    let n = builds.len() + 1;
    for round in 0..s.rounds {
        let one = vec![pool[(round * 37) % pool.len()].clone(); 1000];
        for k in 0..n {
            let at = (k + round) % n;
            match builds.get(at) {
                Some(b) => t.single[at].push(pool_pass(&b.prog, &one, XDP_TX)),
                None => t.floor_single.push(pool_pass(empty, &one, XDP_PASS)),
            }
        }
    }
    // New flows: 198.18.x.y sources, a fresh 1024 per pass.
    let mut fresh = tcp_flows(POOL * s.pool_rounds, 0x6e65_7766);
    for f in &mut fresh {
        f.src[1] = 18;
    }
    let n = builds.len() + 1;
    for round in 0..s.pool_rounds {
        let new = frames(&fresh[round * POOL..(round + 1) * POOL]);
        for k in 0..n {
            let at = (k + round) % n;
            match builds.get(at) {
                Some(b) => {
                    t.tracked[at].push(pool_pass(&b.prog, pool, XDP_TX));
                    t.new[at].push(pool_pass(&b.prog, &new, XDP_TX));
                }
                None => t.floor_pool.push(pool_pass(empty, pool, XDP_PASS)),
            }
        }
    }
    t
}

/// (IQM, median, IQR) of the rounds.
fn stats(t: &Timing) -> (f64, f64, f64) {
    let mut v = t.0.clone();
    let (q1, q3) = (percentile(&mut v, 25.0), percentile(&mut v, 75.0));
    (iqm(&mut v), median(&mut v), q3 - q1)
}

fn report(s: &Settings, builds: &[Build], t: &Times) {
    let floor = stats(&t.floor);
    let find = |who: Who, shrink: bool| builds.iter().position(|b| b.who == who && b.shrink == shrink).expect("every build");
    let run_of = |i: usize| stats(&t.runs.iter().find(|(j, _)| *j == i).expect("a shrink-back build").1);
    println!(
        "### ns/packet, repeat {} (shrink-back builds, tracked flows; {} rounds, the builds and the empty program interleaved, order rotated each round)",
        s.repeat, s.rounds
    );
    println!();
    println!("| build | IQM ns | median ns | IQR ns | above floor (IQM) | IQM / C | above floor / C's |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let c = run_of(find(Who::C, true));
    for who in [Who::Nflc, Who::C, Who::CV3] {
        let r = run_of(find(who, true));
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |",
            builds[find(who, true)].label(),
            r.0,
            r.1,
            r.2,
            r.0 - floor.0,
            r.0 / c.0,
            (r.0 - floor.0) / (c.0 - floor.0)
        );
    }
    println!("| empty XDP program | {:.1} | {:.1} | {:.1} | | | |", floor.0, floor.1, floor.2);
    println!();
    println!(
        "### ns/packet, repeat 1 per frame (mean per frame, includes the kernel's clock reads): the {POOL} pool frames (tracked) or {POOL} fresh flows (new), IQM of {} passes; one tracked frame run 1000 times, IQM of {} rounds [IQR]",
        s.pool_rounds, s.rounds
    );
    println!();
    println!("| build | tracked ns | tracked / C | new flows ns | new / C | one frame x1000 ns | one frame / C |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for shrink in [false, true] {
        let c = find(Who::C, shrink);
        let (ct, cn, cs) = (stats(&t.tracked[c]), stats(&t.new[c]), stats(&t.single[c]));
        for who in [Who::Nflc, Who::C, Who::CV3] {
            let i = find(who, shrink);
            let (tr, nw, sg) = (stats(&t.tracked[i]), stats(&t.new[i]), stats(&t.single[i]));
            println!(
                "| {} | {:.1} [{:.1}] | {:.2} | {:.1} [{:.1}] | {:.2} | {:.1} [{:.1}] | {:.2} |",
                builds[i].label(),
                tr.0,
                tr.2,
                tr.0 / ct.0,
                nw.0,
                nw.2,
                nw.0 / cn.0,
                sg.0,
                sg.2,
                sg.0 / cs.0
            );
        }
    }
    let (fp, fs) = (stats(&t.floor_pool), stats(&t.floor_single));
    println!("| empty XDP program | {:.1} [{:.1}] | | | | {:.1} [{:.1}] | |", fp.0, fp.2, fs.0, fs.2);
    println!();
    println!(
        "### code and compile (compile ms: nflc in process, median of {}; clang -O2 -g as a process, median of {})",
        s.nf_builds, s.clang_builds
    );
    println!();
    println!("| build | xlated | processed | jited B | stack B | compile ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for b in builds {
        println!(
            "| {} | {} | {} | {} | {} | {:.1} |",
            b.label(),
            b.prog.xlated_insn_count(),
            opt(b.prog.verified_insns()),
            b.prog.jited_len(),
            opt(b.stack),
            b.build_ms
        );
    }
    let ratio = run_of(find(Who::Nflc, true)).0 / c.0;
    println!();
    println!(
        "- goal nflc <= 1.1x C unsplit (repeat, shrink back, IQM): {ratio:.2}: {}",
        if ratio <= 1.1 { "met" } else { "NOT met" }
    );
}

/// The same shrink-back program whole and with its encapsulation in a
/// second stage (one tail call and the per-CPU handover of the `meta`
/// fields): what the boundary costs, interleaved in one set of rounds.
fn stage_boundary(s: &Settings, empty: &LoadedProgram, pool: &[Vec<u8>]) {
    let whole = l4lb::build(true);
    let staged = l4lb::build_text(&l4lb::staged_source(true));
    let n_stages = staged.plan.as_ref().map_or(1, |p| p.len());
    let progs = [l4lb::load_nflc(&whole), l4lb::load_nflc(&staged)];
    for p in &progs {
        pool_pass(p, pool, XDP_TX);
    }
    let mut t = [Timing::default(), Timing::default(), Timing::default()];
    for round in 0..s.rounds {
        let pkt = &pool[(round * 37) % pool.len()];
        for k in 0..3 {
            let at = (k + round) % 3;
            match progs.get(at) {
                Some(p) => t[at].push(run_once(p, pkt, s.repeat, XDP_TX, "stage boundary")),
                None => t[2].push(run_once(empty, pkt, s.repeat, XDP_PASS, "empty")),
            }
        }
    }
    let (w, st, e) = (stats(&t[0]), stats(&t[1]), stats(&t[2]));
    println!("### one stage boundary in l4lb (shrink back, tracked flows, repeat {}, {} rounds; the encapsulation in a `stage` block)", s.repeat, s.rounds);
    println!();
    println!("| build | stages | insns (all) | verifier processed (all) | IQM ns | IQR ns |");
    println!("|---|---:|---:|---:|---:|---:|");
    let total = |p: &LoadedProgram| (p.xlated_insn_count() + p.stages().iter().map(|s| s.xlated_insns).sum::<u32>(), p.verified_insns().unwrap_or(0) + p.stages().iter().map(|s| s.verified_insns.unwrap_or(0)).sum::<u32>());
    for (label, p, st_, k) in [("nflc, whole", &progs[0], w, 1), ("nflc, 2 stages", &progs[1], st, n_stages)] {
        let (insns, processed) = total(p);
        println!("| {label} | {k} | {insns} | {processed} | {:.1} | {:.1} |", st_.0, st_.2);
    }
    println!("| empty XDP program | | | | {:.1} | {:.1} |", e.0, e.2);
    println!();
    println!("- the boundary costs {:.1} ns (IQM difference)", st.0 - w.0);
}

fn main() {
    let s = Settings::from_env();
    if !bench_ready("l4lb") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    println!(
        "Run 9, l4lb against its C twin (IPv4 TCP to one VIP, 4 backends, IP-in-IP): {} rounds, repeat {}, pool passes x{}, nflc build x{}, clang x{}{}",
        s.rounds,
        s.repeat,
        s.pool_rounds,
        s.nf_builds,
        s.clang_builds,
        if s.quick { " (NFL_BENCH_QUICK: smoke run, numbers are rough)" } else { "" }
    );
    let empty_obj = compile_twin("empty", dir.path(), &[]).unwrap_or_else(|e| panic!("{e}"));
    let empty = load(&empty_obj, "empty");
    let builds = builds(&s, dir.path());
    eprintln!("[{:6.1} s] {} builds loaded", started.elapsed().as_secs_f64(), builds.len());
    let pool = frames(&tcp_flows(POOL, 0x706f_6f6c));
    let t = time_all(&s, &builds, &empty, &pool, started);
    println!();
    repeat_check(&builds, &pool[0]);
    report(&s, &builds, &t);
    println!();
    stage_boundary(&s, &empty, &pool);
    println!();
    println!("total bench time: {:.1} s", started.elapsed().as_secs_f64());
}
