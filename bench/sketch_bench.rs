//! Run 7: nflc's count-min sketch and NitroSketch against their C twins.
//! `cargo bench --bench sketches`.
//!
//! For rows = 1, 4 and 8 (cols 4096), two count-min NFs keyed on
//! `ipv4.src`:
//! - **add**: `if !ipv4.valid { pass }  talkers.add()  pass`;
//! - **add + query**: the same, then `if talkers.query() > 1000 { drop }`;
//!
//! and a NitroSketch (rows 4, cols 4096, p = 1/8) keyed on
//! `(ipv4.src, udp.src_port)`: `if !ipv4.valid || !udp.valid { pass }
//! flows.add()  pass`;
//!
//! each built by nflc and by clang from `bench/c/countmin.c` or
//! `bench/c/nitro.c` (same hash, same map layout: `tests/sketch_twin.rs`
//! proves the counters and the sampler state equal; the C twin's pool map
//! gets the bytes nflc's loader writes), with clang's default CPU
//! (`clang -O2 -g -target bpf`, as every twin) and with `-mcpu=v3` (32-bit
//! ALU ops, which nflc uses too).
//!
//! Per build: compile ms (nflc in process, median of `nf_builds`; clang as
//! a process, median of `clang_builds`), load ms (median of `loads`), xlated
//! insns, the verifier's processed insns, JIT bytes, stack bytes. Then
//! ns/packet with BPF_PROG_TEST_RUN, repeat >= 1e6, every build and the
//! empty XDP program in each round, the order rotated every round, median
//! of the rounds (IQM beside it).
//!
//! Packets: a pool of 1024 IPv4/UDP frames whose sources follow Zipf(1)
//! over 256 addresses of 198.18.0.0/15. A test run repeats one frame, so
//! the pool is cycled across rounds: round `r` times every build on frame
//! `r * 37 mod 1024`. Before timing, every build has seen the whole pool
//! once, so the sketches hold Zipf-shaped counts. Separately ("pool pass"),
//! every build runs each of the 1024 frames once (repeat 1, so each run
//! also pays the kernel's clock reads; the empty program shows that
//! floor): the mean over the pool, median of `pool_rounds`; there the
//! counters touched change every packet, as with real traffic.
//!
//! ESTIMATE for the enetstl profile (kfunc-lib's module, which cannot be
//! loaded here): the Rust twin (`kfunc_lib::CountMin` / `Nitro`) timed
//! natively, ns per key over the pool's keys in a tight loop, median of
//! `pool_rounds`; printed beside the eBPF ns above the empty program. Native
//! Rust, not the module.
//!
//! `NFL_BENCH_QUICK=1`: a smoke run.

mod common;
mod measure;

use kfunc_lib::XorShift64Star;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use common::*;
use measure::*;
use nfl_runtime::LoadedProgram;

const COLS: u32 = 4096;
const THRESHOLD: u32 = 1000;
const ROWS: [u32; 3] = [1, 4, 8];
const NITRO_ROWS: u32 = 4;
/// p = 2^-NITRO_LOG2P
const NITRO_LOG2P: u32 = 3;
const POOL: usize = 1024;
const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

struct Settings {
    quick: bool,
    rounds: usize,
    repeat: u32,
    pool_rounds: usize,
    nf_builds: usize,
    clang_builds: usize,
    loads: usize,
}

impl Settings {
    fn from_env() -> Settings {
        let quick = std::env::var("NFL_BENCH_QUICK").is_ok_and(|v| v == "1");
        let (rounds, repeat, pool_rounds, nf_builds, clang_builds, loads) = if quick {
            (3, 100_000, 3, 5, 2, 2)
        } else {
            (31, 1_000_000, 11, 30, 5, 5)
        };
        Settings {
            quick,
            rounds,
            repeat,
            pool_rounds,
            nf_builds,
            clang_builds,
            loads,
        }
    }
}

/// One measured NF.
#[derive(Clone, Copy, PartialEq)]
enum Nf {
    /// Count-min add, or add then drop above the threshold.
    CountMin { rows: u32, query: bool },
    /// NitroSketch add.
    Nitro { rows: u32 },
}

impl Nf {
    /// In the order of the tables.
    fn all() -> Vec<Nf> {
        let mut v: Vec<Nf> = ROWS
            .iter()
            .flat_map(|&rows| [false, true].map(|query| Nf::CountMin { rows, query }))
            .collect();
        v.push(Nf::Nitro { rows: NITRO_ROWS });
        v
    }

    fn label(self) -> String {
        match self {
            Nf::CountMin { rows, query } => {
                format!("rows {rows} {}", if query { "add + query" } else { "add" })
            }
            Nf::Nitro { rows } => format!("nitro rows {rows} add"),
        }
    }

    /// The nflc program.
    fn source(self) -> String {
        match self {
            Nf::CountMin { rows, query } => {
                let q = if query {
                    format!("    if talkers.query() > {THRESHOLD} {{ drop }}\n")
                } else {
                    String::new()
                };
                format!(
                    "import std.net\n\
                     sketch talkers: count_min(rows = {rows}, cols = {COLS}) keyed ipv4.src\n\
                     control cm(xdp) {{\n    if !ipv4.valid {{ pass }}\n    talkers.add()\n{q}    pass\n}}\n"
                )
            }
            Nf::Nitro { rows } => format!(
                "import std.net\n\
                 sketch flows: nitro(rows = {rows}, cols = {COLS}, p = {}) keyed (ipv4.src, udp.src_port)\n\
                 control nm(xdp) {{\n    if !ipv4.valid || !udp.valid {{ pass }}\n    flows.add()\n    pass\n}}\n",
                1.0 / f64::from(1u32 << NITRO_LOG2P)
            ),
        }
    }

    /// The C twin (`bench/c/<twin>.c`) and its defines.
    fn twin(self) -> (&'static str, Vec<String>) {
        match self {
            Nf::CountMin { rows, query } => {
                let mut d = vec![format!("CM_ROWS={rows}"), format!("CM_COLS={COLS}")];
                if query {
                    d.push(format!("CM_THRESHOLD={THRESHOLD}"));
                }
                ("countmin", d)
            }
            Nf::Nitro { rows } => (
                "nitro",
                vec![
                    format!("NS_ROWS={rows}"),
                    format!("NS_COLS={COLS}"),
                    format!("NS_LOG2P={NITRO_LOG2P}"),
                ],
            ),
        }
    }

    /// The verdict of a timed run (its last repetition): add + query drops
    /// once the frame's source is over the threshold.
    fn want(self) -> u32 {
        match self {
            Nf::CountMin { query: true, .. } => XDP_DROP,
            _ => XDP_PASS,
        }
    }
}

/// One build, loaded.
struct Build {
    nf: Nf,
    who: Who,
    prog: LoadedProgram,
    build_ms: f64,
    load_ms: f64,
    stack: Option<u32>,
    /// The verdict of a timed run (its last repetition).
    want: u32,
}

fn timed_loads(obj: &[u8], what: &str, n: usize) -> (LoadedProgram, f64) {
    let mut prog = None;
    let mut t: Vec<f64> = (0..n)
        .map(|_| ms(|| prog = Some(load(obj, what))))
        .collect();
    (prog.expect("loaded"), median(&mut t))
}

fn builds(s: &Settings, dir: &Path) -> Vec<Build> {
    let mut out = Vec::new();
    for nf in Nf::all() {
        let text = nf.source();
        build_nf("nf.nf", &text); // warm-up, not timed
        let mut b = None;
        let mut t: Vec<f64> = (0..s.nf_builds)
            .map(|_| ms(|| b = Some(build_nf("nf.nf", &text))))
            .collect();
        let b = b.expect("built");
        let what = format!("nflc {}", nf.label());
        let (prog, load_ms) = timed_loads(&b.object, &what, s.loads);
        // NitroSketch's pool, as nflc's loader fills it.
        nfl_runtime::state::init_maps(&prog, &b.object)
            .unwrap_or_else(|e| panic!("{what}: fill the maps: {e}"));
        out.push(Build {
            nf,
            who: Who::Nflc,
            prog,
            build_ms: median(&mut t),
            load_ms,
            stack: Some(b.codegen.alloc.stack_bytes),
            want: nf.want(),
        });
        let (twin, defines) = nf.twin();
        let defs: Vec<&str> = defines.iter().map(String::as_str).collect();
        for who in [Who::C, Who::CV3] {
            let mut path = None;
            let mut t: Vec<f64> = (0..s.clang_builds)
                .map(|_| {
                    ms(|| {
                        path = Some(
                            compile_twin_cpu(twin, dir, &defs, who == Who::CV3)
                                .unwrap_or_else(|e| panic!("{e}")),
                        )
                    })
                })
                .collect();
            let path = path.expect("compiled");
            let obj = std::fs::read(&path).expect("read object");
            let what = format!("{} {defines:?}", who.label());
            let (prog, load_ms) = timed_loads(&obj, &what, s.loads);
            if let Nf::Nitro { .. } = nf {
                write_nitro_pool(&prog, &b.schema, "flows_pool", NITRO_LOG2P);
            }
            out.push(Build {
                nf,
                who,
                prog,
                build_ms: median(&mut t),
                load_ms,
                stack: c_stack_bytes(&path),
                want: nf.want(),
            });
        }
    }
    out
}


/// 1024 IPv4/UDP frames (69-byte DNS queries), sources Zipf(1) over 256
/// addresses of 198.18.0.0/15.
fn pool() -> Vec<Vec<u8>> {
    let ranks = 256u64;
    let cdf: Vec<f64> = (1..=ranks)
        .scan(0.0, |sum, r| {
            *sum += 1.0 / r as f64;
            Some(*sum)
        })
        .collect();
    let total = cdf[cdf.len() - 1];
    let mut rng = XorShift64Star::new(0x5EED_C0DE);
    (0..POOL)
        .map(|_| {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
            let rank = cdf.partition_point(|&c| c < u) as u64;
            let spread = (rank.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 47) as u32;
            let src = 0xC612_0000u32 | spread;
            ipv4_packet(
                &[],
                Ipv4::new(IPPROTO_UDP, src.to_be_bytes(), v4(198, 19, 0, 1)),
                &udp_header(40000, 53, DNS_PAYLOAD.len()),
                DNS_PAYLOAD,
            )
        })
        .collect()
}

/// The mean kernel ns of one pass over the pool, repeat 1 per frame.
fn pool_pass(prog: &LoadedProgram, pool: &[Vec<u8>]) -> f64 {
    pool.iter()
        .map(|p| {
            f64::from(
                nfl_runtime::test_run(prog.fd(), p, 1)
                    .expect("test run")
                    .duration_ns,
            )
        })
        .sum::<f64>()
        / pool.len() as f64
}

struct Times {
    /// Per build: repeat runs, then pool passes.
    runs: Vec<Timing>,
    pools: Vec<Timing>,
    floor: Timing,
    floor_pool: Timing,
}

fn time_all(
    s: &Settings,
    builds: &[Build],
    empty: &LoadedProgram,
    pool: &[Vec<u8>],
    started: Instant,
) -> Times {
    // Every build has seen the whole pool once.
    for b in builds {
        pool_pass(&b.prog, pool);
    }
    let n = builds.len() + 1;
    let mut t = Times {
        runs: builds.iter().map(|_| Timing::default()).collect(),
        pools: builds.iter().map(|_| Timing::default()).collect(),
        floor: Timing::default(),
        floor_pool: Timing::default(),
    };
    for round in 0..s.rounds {
        let pkt = &pool[(round * 37) % pool.len()];
        if round == 0 {
            for b in builds {
                run_once(&b.prog, pkt, s.repeat / 10, b.want, "warm-up");
            }
        }
        for k in 0..n {
            let who = (k + round) % n;
            match builds.get(who) {
                Some(b) => {
                    let what = format!("{} {} round {round}", b.who.label(), b.nf.label());
                    t.runs[who].push(run_once(&b.prog, pkt, s.repeat, b.want, &what));
                }
                None => t
                    .floor
                    .push(run_once(empty, pkt, s.repeat, XDP_PASS, "empty")),
            }
        }
        eprintln!(
            "[{:6.1} s] round {}/{}",
            started.elapsed().as_secs_f64(),
            round + 1,
            s.rounds
        );
    }
    for round in 0..s.pool_rounds {
        for k in 0..n {
            let who = (k + round) % n;
            match builds.get(who) {
                Some(b) => t.pools[who].push(pool_pass(&b.prog, pool)),
                None => t.floor_pool.push(pool_pass(empty, pool)),
            }
        }
    }
    t
}

fn rel_iqr(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    let (q1, q3, m) = (
        percentile(&mut v, 25.0),
        percentile(&mut v, 75.0),
        median(&mut v),
    );
    (q3 - q1) / m
}

/// `(ipv4.src, udp.src_port)` of each pool frame, in host order.
fn pool_keys(pool: &[Vec<u8>]) -> Vec<(u32, u16)> {
    pool.iter()
        .map(|p| {
            let src = u32::from_be_bytes(p[26..30].try_into().expect("IPv4 source"));
            let sport = u16::from_be_bytes(p[34..36].try_into().expect("UDP source port"));
            (src, sport)
        })
        .collect()
}

/// ESTIMATE input (not the kernel module): the Rust twin of `nf` run
/// natively over `keys` (`passes` times per round), ns per key, median of
/// `rounds`. Keys are laid out as the programs hash them.
fn native_ns(nf: Nf, keys: &[(u32, u16)], rounds: usize, passes: usize) -> f64 {
    let mut round: Box<dyn FnMut()> = match nf {
        Nf::CountMin { rows, query } => {
            let mut cm = kfunc_lib::CountMin::new(rows, COLS).expect("shape");
            let keys: Vec<[u8; 4]> = keys.iter().map(|k| k.0.to_le_bytes()).collect();
            Box::new(move || {
                for _ in 0..passes {
                    for k in &keys {
                        cm.add(black_box(k), 1);
                        if query {
                            black_box(cm.query(black_box(k)) > THRESHOLD);
                        }
                    }
                }
                black_box(&cm);
            })
        }
        Nf::Nitro { rows } => {
            let pool = nfl_compiler::schema::nitro_pool(NITRO_LOG2P).expect("pool");
            let mut ns = kfunc_lib::Nitro::new(rows, COLS, &pool).expect("shape");
            let keys: Vec<[u8; 8]> = keys
                .iter()
                .map(|&(src, sport)| {
                    let mut k = [0u8; 8];
                    k[..4].copy_from_slice(&src.to_le_bytes());
                    k[4..6].copy_from_slice(&sport.to_le_bytes());
                    k
                })
                .collect();
            Box::new(move || {
                for _ in 0..passes {
                    for k in &keys {
                        ns.add(black_box(k), 1);
                    }
                }
                black_box(&ns);
            })
        }
    };
    round(); // warm-up
    let per_round = (passes * keys.len()) as f64;
    let mut t: Vec<f64> = (0..rounds)
        .map(|_| ms(&mut round) * 1e6 / per_round)
        .collect();
    median(&mut t)
}

fn report(s: &Settings, builds: &[Build], t: &mut Times, empty: &LoadedProgram, native: &[f64]) {
    let sums: Vec<(f64, f64)> = t.runs.iter_mut().map(Timing::summary).collect();
    let pools: Vec<f64> = t.pools.iter_mut().map(|p| p.summary().0).collect();
    let floor = t.floor.summary();
    let floor_pool = t.floor_pool.summary().0;
    let find = |nf: Nf, who: Who| {
        builds
            .iter()
            .position(|b| b.nf == nf && b.who == who)
            .expect("every build")
    };
    println!();
    println!(
        "### ns/packet (BPF_PROG_TEST_RUN, repeat {}, median of {} rounds, all {} builds and the empty program interleaved, order rotated each round; round r on pool frame r*37 mod {POOL}); pool pass: repeat 1 on each of the {POOL} frames, mean, median of {} passes",
        s.repeat,
        s.rounds,
        builds.len(),
        s.pool_rounds
    );
    println!();
    println!(
        "| NF | nflc ns | C ns | ratio | nflc IQM | C IQM | IQM ratio | above floor (IQM) | C v3 ns | C v3 IQM | nflc / C v3 (IQM) | pool nflc | pool C | pool C v3 | pool ratio (C) | pool ratio (C v3) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for nf in Nf::all() {
        let (n, c, v) = (find(nf, Who::Nflc), find(nf, Who::C), find(nf, Who::CV3));
        println!(
            "| {} | {:.0} | {:.0} | {:.2} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} | {:.1} | {:.2} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |",
            nf.label(),
            sums[n].0,
            sums[c].0,
            sums[n].0 / sums[c].0,
            sums[n].1,
            sums[c].1,
            sums[n].1 / sums[c].1,
            (sums[n].1 - floor.1) / (sums[c].1 - floor.1),
            sums[v].0,
            sums[v].1,
            sums[n].1 / sums[v].1,
            pools[n],
            pools[c],
            pools[v],
            pools[n] / pools[c],
            pools[n] / pools[v],
        );
    }
    println!();
    println!(
        "above floor: (nflc - empty) / (C - empty), IQMs: what the program bodies cost, a difference of noisy numbers, so a rough guide."
    );
    println!(
        "floor (empty XDP program, {} xlated insns): {:.0} ns (IQM {:.1}); pool pass {:.1} ns",
        empty.xlated_insn_count(),
        floor.0,
        floor.1,
        floor_pool
    );
    let mut noise: Vec<f64> = t.runs.iter().map(|r| rel_iqr(&r.0)).collect();
    println!(
        "noise: interquartile range of the rounds / median, per build: median {:.1}%, worst {:.1}%",
        100.0 * median(&mut noise),
        100.0 * noise.iter().copied().fold(0.0, f64::max)
    );
    println!();
    println!(
        "### code, compile and load (ratio: nflc / C with the default CPU; compile ms: nflc in process, median of {}; clang -O2 -g as a process, median of {}; load ms: nfl_runtime::load, median of {})",
        s.nf_builds, s.clang_builds, s.loads
    );
    println!();
    println!(
        "| NF | build | xlated | xlated ratio | processed | processed ratio | jited B | stack B | compile ms | load ms |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for nf in Nf::all() {
        let c = &builds[find(nf, Who::C)];
        for who in [Who::Nflc, Who::C, Who::CV3] {
            let b = &builds[find(nf, who)];
            let (x, p) = (b.prog.xlated_insn_count(), b.prog.verified_insns());
            let (xr, pr) = if who == Who::C {
                (String::new(), String::new())
            } else {
                (
                    format!(
                        "{:.2}",
                        f64::from(x) / f64::from(c.prog.xlated_insn_count())
                    ),
                    match (p, c.prog.verified_insns()) {
                        (Some(a), Some(b)) => format!("{:.2}", f64::from(a) / f64::from(b)),
                        _ => "n/a".into(),
                    },
                )
            };
            println!(
                "| {} | {} | {x} | {xr} | {} | {pr} | {} | {} | {:.2} | {:.2} |",
                nf.label(),
                who.label(),
                opt(p),
                b.prog.jited_len(),
                opt(b.stack),
                b.build_ms,
                b.load_ms
            );
        }
    }
    let ratios: Vec<f64> = Nf::all()
        .into_iter()
        .map(|nf| sums[find(nf, Who::Nflc)].1 / sums[find(nf, Who::C)].1)
        .collect();
    let worst = ratios.iter().copied().fold(0.0, f64::max);
    println!();
    println!(
        "- goal ns/packet nflc <= 1.0x C (IQM ratio, every row): worst {worst:.2}: {}",
        if worst <= 1.0 { "met" } else { "NOT met" }
    );
    println!();
    println!(
        "### ESTIMATE, not a measurement of the module: the Rust twin (kfunc_lib) natively, ns per key over the pool's {POOL} keys in a tight loop (median of {} rounds), against the eBPF ns/packet above the empty program (IQM)",
        s.pool_rounds
    );
    println!();
    println!(
        "| NF | Rust twin ns/key | nflc above floor ns | C above floor ns | twin / nflc above floor |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (nf, ns) in Nf::all().into_iter().zip(native) {
        let (n, c) = (find(nf, Who::Nflc), find(nf, Who::C));
        let (an, ac) = (sums[n].1 - floor.1, sums[c].1 - floor.1);
        println!(
            "| {} | {ns:.1} | {an:.1} | {ac:.1} | {:.2} |",
            nf.label(),
            ns / an
        );
    }
}

fn main() {
    let s = Settings::from_env();
    if !bench_ready("sketches") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    println!(
        "Run 7, count-min sketch and NitroSketch against their C twins: cols {COLS}, count-min rows {ROWS:?}, threshold {THRESHOLD}; NitroSketch rows {NITRO_ROWS}, p = 2^-{NITRO_LOG2P}; {} rounds, repeat {}, pool passes x{}, nflc build x{}, clang x{}, loads x{}{}",
        s.rounds,
        s.repeat,
        s.pool_rounds,
        s.nf_builds,
        s.clang_builds,
        s.loads,
        if s.quick {
            " (NFL_BENCH_QUICK: smoke run, numbers are rough)"
        } else {
            ""
        }
    );
    let empty_obj = compile_twin("empty", dir.path(), &[]).unwrap_or_else(|e| panic!("{e}"));
    let empty = load(&empty_obj, "empty");
    let builds = builds(&s, dir.path());
    eprintln!(
        "[{:6.1} s] {} builds loaded",
        started.elapsed().as_secs_f64(),
        builds.len()
    );
    let pool = pool();
    let mut t = time_all(&s, &builds, &empty, &pool, started);
    let keys = pool_keys(&pool);
    let passes = if s.quick { 10 } else { 100 };
    let native: Vec<f64> = Nf::all()
        .into_iter()
        .map(|nf| native_ns(nf, &keys, s.pool_rounds, passes))
        .collect();
    report(&s, &builds, &mut t, &empty, &native);
    println!();
    println!("total bench time: {:.1} s", started.elapsed().as_secs_f64());
}
