//! Run 6: tables and config. `cargo bench --bench tables`.
//!
//! 1. The firewall and the router of `bench/nf/` in four builds each:
//!    nflc specialized (config folded, the small static table compiled
//!    into compares), nflc not specialized (`*_dyn.nf`: the same rules in a
//!    run-time table, the config value read from a map), and their C twins
//!    (`bench/c/firewall.c`, `bench/c/router.c`: rules compiled in, or in
//!    maps); a fifth C build each: the firewall's tuple-space walk in C,
//!    the router's maps with the config in a hash map. Per build: compile ms (nflc in process, median of
//!    `nf_builds`; clang as a process, median of `clang_builds`), load ms
//!    (median of `loads`), xlated insns, the verifier's processed insns,
//!    JIT bytes, stack bytes; then ns/packet with BPF_PROG_TEST_RUN
//!    (`repeat` >= 1e6), all four and the empty program interleaved in
//!    each round with the order rotated every round, median of the rounds
//!    (IQM beside it). All four must agree on every timed packet (verdict
//!    and bytes) first; `tests/c_twins.rs` checks thousands more.
//! 2. Reload: a config change to the new program attached, on a veth in a
//!    private namespace: nflc build (in process) + `nfl_runtime::reload::
//!    reload_nf` (what `nflc reload` does: plan the maps, create and fill
//!    the new ones, load, BPF_LINK_UPDATE of the pinned link), median and
//!    p90 over `reloads`; next to it, the unspecialized way (a map write).
//! 3. Scale: generated firewalls of 100, 1,000 and 10,000 rules (30%
//!    ternary/range, `bench/fwgen.rs`) in firewall.nf (tuple-space
//!    classifier) against a linear scan in C (`firewall.c -DFW_BPF_LOOP`,
//!    bpf_loop over an array map) and the same tuple-space walk in C
//!    (`firewall.c -DFW_TSS`, bpf_loop over the images nflc built).
//!    µs-scale programs: the repeat is chosen so that one run takes about
//!    `scale_run_ms`.
//!
//! `NFL_BENCH_QUICK=1`: a smoke run. `NFL_BENCH_ONLY=fw,rt,reload,scale`:
//! some parts only.

mod common;
mod fwgen;
mod measure;
mod tables;

use std::path::Path;
use std::time::Instant;

use common::*;
use fwgen::{Actions, FiveTuple};
use measure::*;
use nfl_compiler::driver::Build;
use nfl_runtime::LoadedProgram;

struct Settings {
    quick: bool,
    rounds: usize,
    repeat: u32,
    nf_builds: usize,
    clang_builds: usize,
    loads: usize,
    /// Test runs of ROUTER_CHUNK repetitions per round, per forwarded packet.
    router_calls: u32,
    reloads: usize,
    scale_sizes: Vec<usize>,
    scale_rounds: usize,
    scale_run_ms: f64,
    only: Vec<String>,
}

impl Settings {
    fn from_env() -> Settings {
        let quick = std::env::var("NFL_BENCH_QUICK").is_ok_and(|v| v == "1");
        let only = std::env::var("NFL_BENCH_ONLY")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let (
            rounds,
            repeat,
            nf_builds,
            clang_builds,
            loads,
            router_calls,
            reloads,
            scale_rounds,
            scale_run_ms,
        ) = if quick {
            (3, 100_000, 5, 2, 2, 2, 5, 3, 20.0)
        } else {
            (21, 1_000_000, 30, 5, 5, 8, 25, 11, 250.0)
        };
        Settings {
            quick,
            rounds,
            repeat,
            nf_builds,
            clang_builds,
            loads,
            router_calls,
            reloads,
            scale_sizes: vec![100, 1_000, 10_000],
            scale_rounds,
            scale_run_ms,
            only,
        }
    }

    fn wants(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == part)
    }
}

// ---------------------------------------------------------------------------
// One build of an NF, loaded.

struct Variant {
    label: &'static str,
    prog: LoadedProgram,
    build_ms: f64,
    load_ms: f64,
    stack: Option<u32>,
}

impl Variant {
    fn code_row(&self, nf: &str, twin: Option<&Variant>) -> String {
        let ratio = |a: u32, b: u32| format!("{:.2}", f64::from(a) / f64::from(b));
        let (x, p) = (self.prog.xlated_insn_count(), self.prog.verified_insns());
        let (xr, pr) = match twin {
            Some(t) => (
                ratio(x, t.prog.xlated_insn_count()),
                match (p, t.prog.verified_insns()) {
                    (Some(a), Some(b)) => ratio(a, b),
                    _ => "n/a".into(),
                },
            ),
            None => ("".into(), "".into()),
        };
        format!(
            "| {nf} | {} | {x} | {xr} | {} | {pr} | {} | {} | {:.2} | {:.2} |",
            self.label,
            opt(p),
            self.prog.jited_len(),
            opt(self.stack),
            self.build_ms,
            self.load_ms
        )
    }
}

/// Build `stem` (`bench/nf/<stem>.nf` + `.yaml`) `n` times: the last build
/// and the median ms.
fn timed_nf_builds(stem: &str, n: usize) -> (Build, f64) {
    let text = tables::nf_text(&format!("{stem}.nf"));
    let yaml = tables::nf_text(&format!("{stem}.yaml"));
    let (name, yaml_name) = (format!("{stem}.nf"), format!("{stem}.yaml"));
    let mut build = None;
    let mut t: Vec<f64> = (0..n)
        .map(|_| ms(|| build = Some(tables::build_nf_config(&name, &text, &yaml_name, &yaml))))
        .collect();
    (build.expect("built"), median(&mut t))
}

/// Compile a C twin `n` times: the object and the median ms.
fn timed_clang(
    dir: &Path,
    name: &str,
    defines: &[&str],
    headers: &[(&str, String)],
    n: usize,
) -> (Vec<u8>, f64) {
    let mut obj = Vec::new();
    let mut t: Vec<f64> = (0..n)
        .map(|_| {
            ms(|| {
                obj = tables::compile_twin_with(name, dir, defines, headers)
                    .unwrap_or_else(|e| panic!("{e}"))
            })
        })
        .collect();
    (obj, median(&mut t))
}

/// Load `n` times: the last program and the median ms.
fn timed_loads(obj: &[u8], what: &str, n: usize) -> (LoadedProgram, f64) {
    let mut prog = None;
    let mut t: Vec<f64> = (0..n)
        .map(|_| ms(|| prog = Some(load(obj, what))))
        .collect();
    (prog.expect("loaded"), median(&mut t))
}

// ---------------------------------------------------------------------------
// Part 1: firewall and router.

struct PacketTimes {
    nf: &'static str,
    packet: String,
    repeat: u32,
    /// Per variant (spec, dyn, C static, C dyn): (median, IQM).
    ns: Vec<(f64, f64)>,
    floor: (f64, f64),
    /// Relative interquartile range of each variant's rounds.
    noise: Vec<f64>,
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

/// `repeat` repetitions in test runs of at most `chunk` repetitions each:
/// the mean ns per repetition. A program that changes the packet runs on
/// its own output in the next repetition (the kernel does not restore the
/// packet), so the router's TTL would run out: its forwarded packets are
/// timed in runs of ROUTER_CHUNK. (Each test run with repeat > 1 also costs
/// about 16 ms outside the timed loop, to point the XDP dispatcher at the
/// program and back, which is why those runs are few.)
fn run_chunked(
    prog: &LoadedProgram,
    pkt: &[u8],
    repeat: u32,
    chunk: u32,
    want: u32,
    what: &str,
) -> f64 {
    let calls = repeat.div_ceil(chunk).max(1);
    let per = repeat.min(chunk);
    (0..calls)
        .map(|_| run_once(prog, pkt, per, want, what))
        .sum::<f64>()
        / f64::from(calls)
}

/// Time every variant on every packet, interleaved with the empty program.
fn time_packets(
    s: &Settings,
    nf: &'static str,
    variants: &[Variant],
    empty: &LoadedProgram,
    packets: &[(String, Vec<u8>, u32, u32)],
) -> Vec<PacketTimes> {
    let mut rows = Vec::new();
    for (pname, pkt, want, chunk) in packets {
        let chunk = *chunk;
        let repeat = if chunk == u32::MAX {
            s.repeat
        } else {
            chunk * s.router_calls
        };
        // All variants agree on this packet (verdict and output bytes).
        let first = nfl_runtime::test_run(variants[0].prog.fd(), pkt, 1).expect("test run");
        assert_eq!(first.retval, *want, "{nf} {}: {pname}", variants[0].label);
        for v in &variants[1..] {
            let r = nfl_runtime::test_run(v.prog.fd(), pkt, 1).expect("test run");
            assert_eq!(
                (r.retval, &r.data_out),
                (first.retval, &first.data_out),
                "{nf} {}: {pname}",
                v.label
            );
        }
        for v in variants {
            run_chunked(
                &v.prog,
                pkt,
                (repeat / 10).max(chunk.min(repeat)),
                chunk,
                *want,
                "warm-up",
            );
        }
        let mut t: Vec<Timing> = variants.iter().map(|_| Timing::default()).collect();
        let mut floor = Timing::default();
        let n = variants.len() + 1;
        for round in 0..s.rounds {
            for k in 0..n {
                let who = (k + round) % n;
                if who == variants.len() {
                    floor.push(run_chunked(empty, pkt, repeat, chunk, XDP_PASS, "empty"));
                } else {
                    let v = &variants[who];
                    let what = format!("{nf} {} on {pname}", v.label);
                    t[who].push(run_chunked(&v.prog, pkt, repeat, chunk, *want, &what));
                }
            }
        }
        rows.push(PacketTimes {
            nf,
            packet: pname.clone(),
            repeat,
            noise: t.iter().map(|x| rel_iqr(&x.0)).collect(),
            ns: t.iter_mut().map(Timing::summary).collect(),
            floor: floor.summary(),
        });
    }
    rows
}

const XDP_PASS: u32 = tables::XDP_PASS;
/// Repetitions per test run of the router (its packets start at TTL 255).
const ROUTER_CHUNK: u32 = 250;

struct NfResult {
    nf: &'static str,
    variants: Vec<Variant>,
    rows: Vec<PacketTimes>,
}

/// The C side of one NF and how to fill the maps of each build.
struct Twins<'a> {
    stem: &'static str,
    static_define: &'static str,
    /// The generated header of the static C build: (file, text).
    header: (&'static str, String),
    /// `knobs[0]` of the unspecialized nflc build.
    knob: u64,
    c_maps_label: &'static str,
    fill_c: &'a dyn Fn(&LoadedProgram),
}

/// Compile (C), load and fill the four builds of one NF.
fn load_four(
    s: &Settings,
    dir: &Path,
    spec: (&Build, f64),
    dyn_: (&Build, f64),
    t: &Twins<'_>,
) -> Vec<Variant> {
    let nf = |(b, build_ms): (&Build, f64), label, knob, file: String| {
        let (prog, load_ms) = timed_loads(&b.object, &file, s.loads);
        tables::fill_nf(&prog, b, knob);
        Variant {
            label,
            prog,
            build_ms,
            load_ms,
            stack: Some(b.codegen.alloc.stack_bytes),
        }
    };
    let c = |label, defines: &[&str], headers: &[(&str, String)], fill: bool| {
        let (obj, build_ms) = timed_clang(dir, t.stem, defines, headers, s.clang_builds);
        let (prog, load_ms) = timed_loads(&obj, &format!("{}.c {defines:?}", t.stem), s.loads);
        if fill {
            (t.fill_c)(&prog);
        }
        Variant {
            label,
            prog,
            build_ms,
            load_ms,
            stack: c_stack_bytes(&twin_object_path(t.stem, dir, defines)),
        }
    };
    vec![
        nf(spec, "nflc specialized", None, format!("{}.nf", t.stem)),
        nf(
            dyn_,
            "nflc not specialized",
            Some(t.knob),
            format!("{}_dyn.nf", t.stem),
        ),
        c(
            "C static",
            &[t.static_define],
            std::slice::from_ref(&t.header),
            false,
        ),
        c(t.c_maps_label, &[], &[], true),
    ]
}

fn firewall_part(s: &Settings, dir: &Path, empty: &LoadedProgram) -> NfResult {
    let spec = timed_nf_builds("firewall", s.nf_builds);
    let dyn_ = timed_nf_builds("firewall_dyn", s.nf_builds);
    let rules = tables::fw_rules_of(&spec.0.schema);
    let drop_fragments = tables::config_value(&spec.0.schema, "drop_fragments") != 0;
    let twins = Twins {
        stem: "firewall",
        static_define: "FW_STATIC",
        header: ("fw_rules.h", tables::fw_header(&rules, drop_fragments)),
        knob: u64::from(drop_fragments),
        c_maps_label: "C maps (linear scan)",
        fill_c: &|p| tables::fill_fw_c(p, &rules, drop_fragments, 64),
    };
    let mut variants = load_four(s, dir, (&spec.0, spec.1), (&dyn_.0, dyn_.1), &twins);
    // A fifth build: the same tuple-space walk in C, on the images nflc built.
    let defines = tables::tss_defines(&dyn_.0.schema);
    let defines: Vec<&str> = defines.iter().map(String::as_str).collect();
    let (obj, build_ms) = timed_clang(dir, "firewall", &defines, &[], s.clang_builds);
    let (prog, load_ms) = timed_loads(&obj, "firewall.c TSS", s.loads);
    tables::fill_tss_c(&prog, &dyn_.0, drop_fragments);
    let stack = c_stack_bytes(&twin_object_path("firewall", dir, &defines));
    variants.push(Variant {
        label: "C TSS (bpf_loop)",
        prog,
        build_ms,
        load_ms,
        stack,
    });
    let packets: Vec<(String, Vec<u8>, u32, u32)> = tables::fw_bench_tuples()
        .into_iter()
        .map(|(n, t)| {
            let want = match fwgen::reference(&rules, &t) {
                Some(i) if rules[i].deny => tables::XDP_DROP,
                _ => XDP_PASS,
            };
            (n.to_string(), tables::tuple_packet(&t), want, u32::MAX)
        })
        .collect();
    let rows = time_packets(s, "firewall", &variants, empty, &packets);
    NfResult {
        nf: "firewall",
        variants,
        rows,
    }
}

fn router_part(s: &Settings, dir: &Path, empty: &LoadedProgram) -> NfResult {
    let spec = timed_nf_builds("router", s.nf_builds);
    let dyn_ = timed_nf_builds("router_dyn", s.nf_builds);
    let routes = tables::routes_of(&spec.0.schema);
    let mac = tables::config_value(&spec.0.schema, "router_mac");
    let twins = Twins {
        stem: "router",
        static_define: "RT_STATIC",
        header: ("rt_routes.h", tables::rt_header(&routes, mac)),
        knob: mac,
        c_maps_label: "C maps (LPM trie)",
        fill_c: &|p| tables::fill_rt_c(p, &routes, mac),
    };
    let mut variants = load_four(s, dir, (&spec.0, spec.1), (&dyn_.0, dyn_.1), &twins);
    // A fifth build: C maps with the config in a hash map, as nflc's `map`.
    let defines = ["RT_CONF_HASH"];
    let (obj, build_ms) = timed_clang(dir, "router", &defines, &[], s.clang_builds);
    let (prog, load_ms) = timed_loads(&obj, "router.c, hash conf", s.loads);
    tables::fill_rt_c(&prog, &routes, mac);
    let stack = c_stack_bytes(&twin_object_path("router", dir, &defines));
    variants.push(Variant {
        label: "C maps, config in a hash map",
        prog,
        build_ms,
        load_ms,
        stack,
    });
    // Forwarded packets start at TTL 255 and are timed in runs of
    // ROUTER_CHUNK repetitions, so that every repetition forwards.
    let packets: Vec<(String, Vec<u8>, u32, u32)> = tables::rt_bench_packets()
        .into_iter()
        .map(|(n, p)| {
            let dst = u32::from_be_bytes([p[30], p[31], p[32], p[33]]);
            let routed = routes
                .iter()
                .any(|r| dst & (u32::MAX << (32 - r.len)) == r.net);
            if routed {
                (n.to_string(), p, tables::XDP_REDIRECT, ROUTER_CHUNK)
            } else {
                (n.to_string(), p, XDP_PASS, u32::MAX)
            }
        })
        .collect();
    let rows = time_packets(s, "router", &variants, empty, &packets);
    NfResult {
        nf: "router",
        variants,
        rows,
    }
}

fn report_nf(s: &Settings, results: &[NfResult], floor_insns: u32) {
    println!();
    println!(
        "### ns/packet (BPF_PROG_TEST_RUN, median of {} rounds; 4 builds and the empty program interleaved, order rotated each round; repetitions per round in the `repeat` column: forwarded router packets in runs of {ROUTER_CHUNK}, starting at TTL 255)",
        s.rounds
    );
    println!();
    println!(
        "| NF | packet | repeat | nflc spec | C static | ratio | IQM ratio | nflc not spec | C maps | ratio | IQM ratio | spec / C maps | C extra | not spec / C extra | floor |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for res in results {
        for r in &res.rows {
            let [sp, dy, cs, cd] = [r.ns[0], r.ns[1], r.ns[2], r.ns[3]];
            let (tss, tss_ratio) = match r.ns.get(4) {
                Some(t) => (format!("{:.0}", t.0), format!("{:.2}", dy.0 / t.0)),
                None => ("-".into(), "-".into()),
            };
            println!(
                "| {} | {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {tss} | {tss_ratio} | {:.0} |",
                r.nf,
                r.packet,
                r.repeat,
                sp.0,
                cs.0,
                sp.0 / cs.0,
                sp.1 / cs.1,
                dy.0,
                cd.0,
                dy.0 / cd.0,
                dy.1 / cd.1,
                sp.0 / cd.0,
                r.floor.0
            );
        }
    }
    println!();
    println!(
        "C extra: firewall, the same tuple-space walk in C (bpf_loop over nflc's images); router, C maps with the config in a hash map (as nflc's `map`) instead of an array."
    );
    let mut noise: Vec<f64> = results
        .iter()
        .flat_map(|r| r.rows.iter().flat_map(|p| p.noise.iter().copied()))
        .collect();
    if !noise.is_empty() {
        println!();
        println!(
            "noise: interquartile range of the rounds / median, per (packet, build): median {:.1}%, worst {:.1}%; floor (empty XDP program, {floor_insns} xlated insns) as in the last column",
            100.0 * median(&mut noise),
            100.0 * noise.iter().copied().fold(0.0, f64::max)
        );
    }
    println!();
    println!(
        "### code, compile and load (ratios: against the C twin of the same kind: specialized : C static, not specialized : C maps)"
    );
    println!();
    println!(
        "compile ms: nflc in process (median of {}); clang -O2 -g as a process (median of {}). load ms: nfl_runtime::load, aya + verifier (median of {}).",
        s.nf_builds, s.clang_builds, s.loads
    );
    println!();
    println!(
        "| NF | build | xlated | xlated ratio | processed | processed ratio | jited B | stack B | compile ms | load ms |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for res in results {
        let v = &res.variants;
        println!("{}", v[0].code_row(res.nf, Some(&v[2])));
        println!("{}", v[1].code_row(res.nf, Some(&v[3])));
        for extra in &v[2..] {
            println!("{}", extra.code_row(res.nf, None));
        }
    }
}

// ---------------------------------------------------------------------------
// Part 2: reload.

struct ReloadRow {
    what: String,
    compile: Vec<f64>,
    load: Vec<f64>,
    swap: Vec<f64>,
    total: Vec<f64>,
}

/// Start `stem` on the namespace end of `pair`, then reload it `n` times,
/// each with a new config from `yaml_for(k)`.
fn reload_series(
    stem: &str,
    hook: nfl_runtime::attach::Hook,
    pair: &nfl_runtime::netns::VethPair,
    n: usize,
    yaml_for: &dyn Fn(usize) -> String,
) -> Result<ReloadRow, String> {
    use nfl_runtime::run::{NfSpec, RunConfig, RunSession};
    let text = tables::nf_text(&format!("{stem}.nf"));
    let name = format!("{stem}-{}-{}", hook.name(), std::process::id()).replace('_', "-");
    let first = tables::build_nf_config(&format!("{stem}.nf"), &text, "c.yaml", &yaml_for(0));
    let cfg = RunConfig {
        nf: NfSpec {
            name: name.clone(),
            source: format!("bench/nf/{stem}.nf").into(),
            object: first.object,
            program: None,
            hook,
        },
        generic_fallback: false,
        iface: pair.ns_if.clone(),
        netns: Some(pair.netns.clone()),
    };
    let session = RunSession::start(&cfg).map_err(|e| format!("start {stem}: {e}"))?;
    let mut row = ReloadRow {
        what: format!("{stem} ({})", hook.name()),
        compile: vec![],
        load: vec![],
        swap: vec![],
        total: vec![],
    };
    let mut prog_id = session.info().prog_id;
    for k in 1..=n {
        let yaml = yaml_for(k);
        let t0 = Instant::now();
        let build = tables::build_nf_config(&format!("{stem}.nf"), &text, "c.yaml", &yaml);
        let compile = t0.elapsed().as_secs_f64() * 1e3;
        let rep = nfl_runtime::reload::reload_nf(&name, &build.object, &Default::default())
            .map_err(|e| format!("reload {stem}: {e}"))?;
        let total = t0.elapsed().as_secs_f64() * 1e3;
        assert_ne!(
            Some(rep.new_prog_id),
            prog_id,
            "the reload did not swap the program"
        );
        assert_eq!(
            Some(rep.old_prog_id),
            prog_id,
            "someone else swapped the program"
        );
        prog_id = Some(rep.new_prog_id);
        row.compile.push(compile);
        row.load.push(rep.load_ms);
        row.swap.push(rep.swap_ms);
        row.total.push(total);
    }
    drop(session);
    Ok(row)
}

fn reload_part(s: &Settings) -> Result<(Vec<ReloadRow>, Vec<f64>), String> {
    nfl_runtime::ensure_bpffs()?;
    let pair = nfl_runtime::netns::VethPair::new().map_err(|e| format!("veth pair: {e}"))?;
    let fw_yaml = tables::nf_text("firewall.yaml");
    let rt_yaml = tables::nf_text("router.yaml");
    // Each reload changes the config: the flag, and the top of the game
    // port range (so every build differs); the router's MAC.
    let fw = move |k: usize| {
        fw_yaml
            .replace(
                "drop_fragments: true",
                if k.is_multiple_of(2) {
                    "drop_fragments: true"
                } else {
                    "drop_fragments: false"
                },
            )
            .replace("27000..=27050", &format!("27000..={}", 27050 + k))
    };
    let rt = move |k: usize| {
        rt_yaml.replace(
            "router_mac: 02:00:00:00:00:fe",
            &format!("router_mac: 02:00:00:00:{:02x}:fe", k % 256),
        )
    };
    use nfl_runtime::attach::Hook;
    let rows = vec![
        reload_series("firewall", Hook::Xdp, &pair, s.reloads, &fw)?,
        reload_series("router", Hook::Xdp, &pair, s.reloads, &rt)?,
        reload_series("firewall", Hook::XdpGeneric, &pair, s.reloads, &fw)?,
    ];

    // The unspecialized way: the flag is one map write, no reload.
    let dyn_ = tables::build_bench_nf("firewall_dyn");
    let prog = load(&dyn_.object, "firewall_dyn.nf");
    tables::fill_nf(&prog, &dyn_, Some(1));
    let set =
        nfl_runtime::state::MapSet::from_loaded(&prog, &dyn_.schema).map_err(|e| e.to_string())?;
    let h = set.get("knobs").map_err(|e| e.to_string())?;
    let writes: Vec<f64> = (0..1000u64)
        .map(|k| {
            ms(|| {
                nfl_runtime::mapops::update(
                    h.fd(),
                    h.shape,
                    &0u32.to_ne_bytes(),
                    &(k % 2).to_ne_bytes(),
                    0,
                )
                .expect("write knobs")
            })
        })
        .collect();
    Ok((rows, writes))
}

fn report_reload(s: &Settings, rows: &[ReloadRow], writes: &mut [f64]) {
    println!();
    println!(
        "### reload: config change to the new program attached (XDP link on a veth in a private namespace), {} reloads each",
        s.reloads
    );
    println!();
    println!("| NF | step | median ms | p90 ms | min ms | max ms |");
    println!("|---|---|---:|---:|---:|---:|");
    for r in rows {
        for (step, v) in [
            ("nflc build (in process)", &r.compile),
            ("load (verifier)", &r.load),
            ("BPF_LINK_UPDATE", &r.swap),
            ("total", &r.total),
        ] {
            let mut v = v.clone();
            let (lo, hi) = (
                v.iter().copied().fold(f64::INFINITY, f64::min),
                v.iter().copied().fold(0.0, f64::max),
            );
            println!(
                "| {} | {step} | {:.2} | {:.2} | {:.2} | {:.2} |",
                r.what,
                median(&mut v),
                percentile(&mut v, 90.0),
                lo,
                hi
            );
        }
    }
    println!();
    println!(
        "not specialized (firewall_dyn.nf): the flag is a map write: median {:.4} ms, p90 {:.4} ms over {} writes",
        median(writes),
        percentile(writes, 90.0),
        writes.len()
    );
    let worst = rows
        .iter()
        .map(|r| median(&mut r.total.clone()))
        .fold(0.0, f64::max);
    println!();
    println!(
        "- reload < 20 ms (median): worst {worst:.1} ms: {}",
        if worst < 20.0 { "met" } else { "NOT met" }
    );
}

// ---------------------------------------------------------------------------
// Part 3: scale.

/// One program of the scale part: its label, and the loaded program with
/// its load ms and code figures, or why it does not load.
struct ScaleProg {
    label: &'static str,
    prog: Result<(LoadedProgram, f64), String>,
}

struct ScaleRow {
    rules: usize,
    complex: usize,
    nf_build_ms: f64,
    explain: String,
    progs: Vec<ScaleProg>,
    packets: Vec<ScalePacket>,
}

/// (packet, repeat, per program: (median, IQM) if it loaded, floor).
type ScalePacket = (String, u32, Vec<Option<(f64, f64)>>, f64);

/// Repeat count for about `run_ms` per run, from one short run.
fn repeat_for(prog: &LoadedProgram, pkt: &[u8], run_ms: f64) -> u32 {
    let probe = nfl_runtime::test_run(prog.fd(), pkt, 1000).expect("probe run");
    let ns = f64::from(probe.duration_ns.max(1));
    ((run_ms * 1e6 / ns) as u32).clamp(1000, 2_000_000)
}

fn timed_try_load(obj: &[u8]) -> Result<(LoadedProgram, f64), String> {
    let t = Instant::now();
    try_load(obj).map(|p| (p, t.elapsed().as_secs_f64() * 1e3))
}

/// Packets of a rule set: the first rule matched early, half-way, late; a miss.
fn scale_packets(rules: &[fwgen::FwRule], seed: u64) -> Vec<(String, FiveTuple, u32)> {
    let n = rules.len();
    let tuples = fwgen::tuples(rules, 20_000, seed);
    let hits: Vec<(Option<usize>, &FiveTuple)> = tuples
        .iter()
        .map(|k| (fwgen::reference(rules, k), k))
        .collect();
    let verdict = |hit: Option<usize>| match hit {
        Some(i) if rules[i].deny => tables::XDP_DROP,
        _ => XDP_PASS,
    };
    let mut picks: Vec<(String, FiveTuple, u32)> = [n / 100, n / 2, n]
        .into_iter()
        .map(|target| {
            let (h, k) = hits
                .iter()
                .filter_map(|(h, k)| h.map(|h| (h, *k)))
                .min_by_key(|(h, _)| h.abs_diff(target))
                .expect("a hit");
            (format!("first match: rule {}", h + 1), *k, verdict(Some(h)))
        })
        .collect();
    if let Some((_, k)) = hits.iter().find(|(h, _)| h.is_none()) {
        picks.push(("no match".into(), **k, verdict(None)));
    }
    picks
}

fn scale_part(s: &Settings, dir: &Path, empty: &LoadedProgram) -> Vec<ScaleRow> {
    let text = tables::nf_text("firewall.nf");
    let max_rules = 16_384u32;
    let scan_obj =
        tables::compile_twin_with("firewall", dir, &["FW_BPF_LOOP", "FW_MAX_RULES=16384"], &[])
            .unwrap_or_else(|e| panic!("{e}"));
    let mut rows = Vec::new();
    for &n in &s.scale_sizes {
        let rules = fwgen::generate(fwgen::SEED ^ n as u64, n, 30);
        let complex = rules.iter().filter(|r| r.is_complex()).count();
        let yaml = fwgen::yaml("drop_fragments: true\n", &rules, Actions::Plain);
        let t = Instant::now();
        let build = tables::build_nf_config("firewall.nf", &text, "scale.yaml", &yaml);
        let nf_build_ms = t.elapsed().as_secs_f64() * 1e3;
        let explain = build.schema.explain.first().cloned().unwrap_or_default();
        eprintln!("scale: {n} rules built in {nf_build_ms:.0} ms; loading");
        let nf = timed_try_load(&build.object);
        if let Ok((p, _)) = &nf {
            tables::fill_nf(p, &build, None);
        }
        let scan = timed_try_load(&scan_obj);
        if let Ok((p, _)) = &scan {
            tables::fill_fw_c(p, &rules, true, max_rules);
        }
        let defines = tables::tss_defines(&build.schema);
        let defines: Vec<&str> = defines.iter().map(String::as_str).collect();
        let tss_obj = tables::compile_twin_with("firewall", dir, &defines, &[])
            .unwrap_or_else(|e| panic!("{e}"));
        let tss = timed_try_load(&tss_obj);
        if let Ok((p, _)) = &tss {
            tables::fill_tss_c(p, &build, true);
        }
        let progs = vec![
            ScaleProg {
                label: "nflc (TSS)",
                prog: nf,
            },
            ScaleProg {
                label: "C linear scan",
                prog: scan,
            },
            ScaleProg {
                label: "C TSS",
                prog: tss,
            },
        ];
        let loaded: Vec<Option<&LoadedProgram>> = progs
            .iter()
            .map(|p| p.prog.as_ref().ok().map(|(p, _)| p))
            .collect();

        let mut packets = Vec::new();
        for (pname, k, want) in scale_packets(&rules, fwgen::SEED ^ 0x5ca1e ^ n as u64) {
            let pkt = tables::tuple_packet(&k);
            let repeat = loaded
                .iter()
                .flatten()
                .map(|p| repeat_for(p, &pkt, s.scale_run_ms))
                .min()
                .unwrap_or(1000);
            let mut t: Vec<Timing> = loaded.iter().map(|_| Timing::default()).collect();
            let mut floor = Timing::default();
            let m = loaded.len() + 1;
            for round in 0..s.scale_rounds {
                for j in 0..m {
                    let who = (j + round) % m;
                    match loaded.get(who) {
                        Some(Some(p)) => t[who].push(run_once(
                            p,
                            &pkt,
                            repeat,
                            want,
                            &format!("{n} rules, {pname}"),
                        )),
                        Some(None) => {}
                        None => floor.push(run_once(empty, &pkt, repeat, XDP_PASS, "empty")),
                    }
                }
            }
            let ns = loaded
                .iter()
                .zip(t.iter_mut())
                .map(|(p, t)| p.map(|_| t.summary()))
                .collect();
            packets.push((pname, repeat, ns, floor.summary().0));
        }
        rows.push(ScaleRow {
            rules: n,
            complex,
            nf_build_ms,
            explain,
            progs,
            packets,
        });
    }
    rows
}

fn report_scale(s: &Settings, rows: &[ScaleRow]) {
    println!();
    println!(
        "### scale: generated firewalls (30% ternary/range) in firewall.nf (a tuple-space classifier) against C: a linear scan (bpf_loop over an array map of rules) and the same tuple-space walk (bpf_loop over nflc's images); median of {} rounds, interleaved; repeat per packet for about {} ms a run",
        s.scale_rounds, s.scale_run_ms
    );
    println!();
    println!(
        "| rules | ternary/range | nflc build ms | nflc table | program | xlated | processed | load ms |"
    );
    println!("|---:|---:|---:|---|---|---:|---:|---:|");
    for r in rows {
        let table = r
            .explain
            .split("]: ")
            .nth(1)
            .unwrap_or(&r.explain)
            .split(';')
            .next()
            .unwrap_or("");
        for (i, p) in r.progs.iter().enumerate() {
            let (x, pr, l) = match &p.prog {
                Ok((p, l)) => (
                    p.xlated_insn_count().to_string(),
                    opt(p.verified_insns()),
                    format!("{l:.0}"),
                ),
                Err(_) => ("-".into(), "does not load".into(), "-".into()),
            };
            let (rules, complex, build, table) = if i == 0 {
                (
                    r.rules.to_string(),
                    r.complex.to_string(),
                    format!("{:.0}", r.nf_build_ms),
                    table.to_string(),
                )
            } else {
                (String::new(), String::new(), String::new(), String::new())
            };
            println!(
                "| {rules} | {complex} | {build} | {table} | {} | {x} | {pr} | {l} |",
                p.label
            );
        }
    }
    println!();
    println!(
        "| rules | packet | repeat | nflc ns | C linear scan ns | C TSS ns | nflc / C scan | nflc / C TSS | C TSS / C scan | floor ns |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        for (pname, repeat, ns, floor) in &r.packets {
            let cell = |i: usize| ns[i].map_or("-".to_string(), |t| format!("{:.0}", t.0));
            let ratio = |a: usize, b: usize| match (ns[a], ns[b]) {
                (Some(x), Some(y)) => format!("{:.2}", x.0 / y.0),
                _ => "-".into(),
            };
            println!(
                "| {} | {pname} | {repeat} | {} | {} | {} | {} | {} | {} | {floor:.0} |",
                r.rules,
                cell(0),
                cell(1),
                cell(2),
                ratio(0, 1),
                ratio(0, 2),
                ratio(2, 1)
            );
        }
    }
    for r in rows {
        for p in &r.progs {
            if let Err(e) = &p.prog {
                println!();
                println!(
                    "{}, {} rules: the verifier rejects the program:",
                    p.label, r.rules
                );
                println!("```");
                println!("{}", e.lines().next().unwrap_or_default());
                if let Some(stats) = e.lines().rev().find(|l| l.starts_with("processed ")) {
                    println!("{stats}");
                }
                println!("```");
            }
        }
    }
}

fn main() {
    let s = Settings::from_env();
    if !bench_ready("tables") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    println!(
        "Run 6, tables and config: {} rounds, repeat {}, nflc build x{}, clang x{}, loads x{}, reloads x{}{}",
        s.rounds,
        s.repeat,
        s.nf_builds,
        s.clang_builds,
        s.loads,
        s.reloads,
        if s.quick {
            " (NFL_BENCH_QUICK: smoke run, numbers are rough)"
        } else {
            ""
        }
    );
    let empty_obj = compile_twin("empty", dir.path(), &[]).unwrap_or_else(|e| panic!("{e}"));
    let empty = load(&empty_obj, "empty");

    let mut results = Vec::new();
    let progress = |what: &str| eprintln!("[{:6.1} s] {what}", started.elapsed().as_secs_f64());
    if s.wants("fw") {
        progress("firewall");
        results.push(firewall_part(&s, dir.path(), &empty));
    }
    if s.wants("rt") {
        progress("router");
        results.push(router_part(&s, dir.path(), &empty));
    }
    if !results.is_empty() {
        report_nf(&s, &results, empty.xlated_insn_count());
    }
    if s.wants("reload") {
        progress("reload");
        match reload_part(&s) {
            Ok((rows, mut writes)) => report_reload(&s, &rows, &mut writes),
            Err(e) => println!("\n### reload: not measured: {e}"),
        }
    }
    if s.wants("scale") {
        progress("scale");
        let rows = scale_part(&s, dir.path(), &empty);
        report_scale(&s, &rows);
    }
    println!();
    println!("total bench time: {:.1} s", started.elapsed().as_secs_f64());
}
