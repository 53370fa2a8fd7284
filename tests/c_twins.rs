//! The hand-written C twins in `bench/c/` compute the same function as the
//! `.nf` examples they are benchmarked against:
//! - each twin passes its example's `.test` file in the kernel;
//! - on crafted edge cases, every truncation of them, and the tcpdump corpus,
//!   the static_filter twin gives the same verdict as nflc's static_filter,
//!   and the twin's parser (bench/c/nf_std_parse.h) gives the same
//!   `pkt.rejected` and the same `H.valid` for every header as std_parse.
//!
//! Needs BPF (skips loudly without it, fails under NFL_REQUIRE_KERNEL=1) and
//! clang (same rule).

#[path = "../bench/common.rs"]
mod twins;

use std::path::PathBuf;

use nfl_runtime::testfile;
use twins::*;

const XDP_DROP: u32 = 1;
/// The largest frame a single-buffer XDP program can be test-run on.
const XDP_SINGLE_BUFFER_MAX: usize = 4096 - 256 - 320;

fn load_c(name: &str, dir: &std::path::Path, defines: &[&str]) -> nfl_runtime::LoadedProgram {
    let obj = compile_twin(name, dir, defines).unwrap_or_else(|e| panic!("{e}"));
    nfl_runtime::load(&obj, None).unwrap_or_else(|e| {
        panic!(
            "the verifier rejected the C twin {name} {defines:?}: {e}\n{}",
            e.verifier_log()
                .map(nfl_runtime::trim_verifier_log)
                .unwrap_or_default()
        )
    })
}

fn load_nf(name: &str, text: &str) -> nfl_runtime::LoadedProgram {
    let build = build_nf(name, text);
    nfl_runtime::load(&build.object, None).unwrap_or_else(|e| panic!("load {name}: {e}"))
}

#[test]
fn c_twins_pass_the_example_tests() {
    if !twin_test_gate("c_twins_pass_the_example_tests") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["parse_only", "static_filter"] {
        let prog = load_c(name, dir.path(), &[]);
        let test_path = root().join("examples").join(format!("{name}.test"));
        let text = std::fs::read_to_string(&test_path).expect("read .test");
        let mut sources = nfl_syntax::SourceMap::new();
        let (_, cases, diags) =
            testfile::parse_source(&mut sources, &format!("examples/{name}.test"), &text);
        assert!(
            diags.is_empty(),
            "{}",
            nfl_syntax::diag::render_all(&diags, &sources, false)
        );
        assert!(
            cases.len() >= 10,
            "{name}.test has only {} cases",
            cases.len()
        );
        let outcomes = testfile::run_cases(&prog, &cases);
        let report = testfile::format_outcomes(&outcomes);
        eprintln!("C twin {name}:\n{report}");
        assert_eq!(outcomes.len(), cases.len());
        assert!(
            outcomes.iter().all(|o| o.passed()),
            "C twin {name} fails its example's tests:\n{report}"
        );
    }
}

/// Hand-made packets at the edges of every parser decision and filter rule.
fn edge_cases() -> Vec<(String, Vec<u8>)> {
    let inside = v4(198, 18, 0, 1);
    let server = v4(198, 18, 0, 2);
    let mut out: Vec<(String, Vec<u8>)> = bench_packets()
        .into_iter()
        .map(|(n, p, _)| (n.to_string(), p))
        .collect();
    let mut add = |name: String, p: Vec<u8>| out.push((name, p));

    let udp4 = |ip: Ipv4, dport: u16| ipv4_packet(&[], ip, &udp_header(40000, dport, 4), b"abcd");
    let tcp4 = |ip: Ipv4, dport: u16, flags: u8| {
        ipv4_packet(&[], ip, &tcp_header(40000, dport, flags), &[])
    };
    for port in [26999, 27000, 27001, 27049, 27050, 27051, 53] {
        add(
            format!("udp4 dport {port}"),
            udp4(Ipv4::new(IPPROTO_UDP, inside, server), port),
        );
    }
    for src in [
        v4(198, 19, 127, 255),
        v4(198, 19, 128, 0),
        v4(198, 19, 200, 7),
        v4(198, 19, 255, 255),
        v4(198, 18, 255, 255),
    ] {
        add(
            format!("udp4 from {src:?}"),
            udp4(Ipv4::new(IPPROTO_UDP, src, server), 53),
        );
    }
    for ttl in [0, 1, 2, 255] {
        add(
            format!("udp4 ttl {ttl}"),
            udp4(
                Ipv4 {
                    ttl,
                    ..Ipv4::new(IPPROTO_UDP, inside, server)
                },
                53,
            ),
        );
    }
    for src in [inside, v4(198, 19, 0, 9)] {
        for port in [22, 23, 24, 136, 137, 138, 139, 140, 444, 445, 446, 80] {
            add(
                format!("tcp4 {src:?} -> {port}"),
                tcp4(Ipv4::new(IPPROTO_TCP, src, server), port, TCP_SYN),
            );
        }
    }
    for flags in [
        0,
        TCP_SYN,
        TCP_FIN,
        TCP_SYN | TCP_FIN,
        TCP_SYN | TCP_FIN | TCP_ACK,
        TCP_ACK,
        0xff,
    ] {
        add(
            format!("tcp4 flags {flags:#x}"),
            tcp4(Ipv4::new(IPPROTO_TCP, inside, server), 80, flags),
        );
    }
    // IPv4 header shapes: version, ihl, options, fragments.
    for (version, ihl) in [
        (4, 0),
        (4, 4),
        (4, 5),
        (4, 6),
        (4, 7),
        (4, 15),
        (6, 5),
        (0, 5),
        (5, 6),
        (15, 15),
    ] {
        let ip = Ipv4 {
            version,
            ihl,
            ..Ipv4::new(IPPROTO_UDP, inside, server)
        };
        add(format!("ipv4 v{version} ihl {ihl} game"), udp4(ip, 27010));
        let ip = Ipv4 {
            version,
            ihl,
            ..Ipv4::new(IPPROTO_TCP, inside, server)
        };
        add(
            format!("ipv4 v{version} ihl {ihl} syn+fin"),
            tcp4(ip, 80, TCP_SYN | TCP_FIN),
        );
    }
    for flags_frag in [
        0x0000, 0x2000, 0x4000, 0x2001, 0x0001, 0x1fff, 0x8000, 0xe000,
    ] {
        let ip = Ipv4 {
            flags_frag,
            ..Ipv4::new(IPPROTO_UDP, inside, server)
        };
        add(format!("ipv4 frag {flags_frag:#06x} game"), udp4(ip, 27010));
    }
    // ihl 15 with an unknown protocol and a packet that ends inside the
    // options: `skip` does not check bounds, so this is accepted.
    let ip = Ipv4 {
        ihl: 15,
        ..Ipv4::new(253, inside, server)
    };
    add(
        "ipv4 ihl 15 proto 253".into(),
        ipv4_packet(&[], ip, &[], &[]),
    );
    for proto in [IPPROTO_ICMP, IPPROTO_ICMPV6, 0, 2, 253] {
        add(
            format!("ipv4 proto {proto}"),
            ipv4_packet(
                &[],
                Ipv4::new(proto, inside, server),
                &[8, 0, 0x19, 0x2d],
                b"ping",
            ),
        );
    }
    // IPv6.
    for (nh, l4) in [
        (IPPROTO_UDP, udp_header(40000, 27010, 0)),
        (IPPROTO_TCP, tcp_header(40000, 23, TCP_SYN | TCP_FIN)),
        (IPPROTO_ICMPV6, vec![128, 0, 0, 0, 0, 1, 0, 1]),
        (0, vec![17, 0, 0, 0, 0, 0, 0, 0]),
        (IPPROTO_ICMP, vec![8, 0, 0, 0]),
    ] {
        for hop in [0, 1, 64] {
            add(
                format!("ipv6 nh {nh} hop {hop}"),
                ipv6_packet(&[], nh, hop, &l4, &[]),
            );
        }
    }
    // VLAN stacks: 0..=3 tags of either TPID, in front of each L3.
    let l3s: Vec<(&str, u16, Vec<u8>)> = vec![
        (
            "ipv4",
            ETH_P_IPV4,
            Ipv4::new(IPPROTO_UDP, inside, server).bytes(8),
        ),
        (
            "ipv6",
            ETH_P_IPV6,
            ipv6_header(IPPROTO_UDP, 0, v6(1), v6(2), 8),
        ),
        (
            "arp",
            ETH_P_ARP,
            vec![
                0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 198, 18,
                0, 2,
            ],
        ),
        ("lldp", 0x88cc, vec![0; 20]),
    ];
    let tag_sets: Vec<Vec<(u16, u16)>> = vec![
        vec![],
        vec![(ETH_P_VLAN, 1)],
        vec![(ETH_P_QINQ, 1)],
        vec![(ETH_P_QINQ, 100), (ETH_P_VLAN, 200)],
        vec![(ETH_P_VLAN, 1), (ETH_P_QINQ, 2)],
        vec![(ETH_P_VLAN, 1), (ETH_P_VLAN, 2), (ETH_P_VLAN, 3)],
        vec![(ETH_P_QINQ, 1), (ETH_P_VLAN, 2), (ETH_P_QINQ, 3)],
    ];
    for tags in &tag_sets {
        for (name, et, l3) in &l3s {
            let mut p = ethernet(tags, *et);
            p.extend_from_slice(l3);
            if *et == ETH_P_IPV4 || *et == ETH_P_IPV6 {
                p.extend_from_slice(&udp_header(40000, 27010, 0));
            }
            add(format!("{} tags / {name}", tags.len()), p);
        }
    }
    out
}

/// Every prefix of `p` that the kernel will test-run (at least 14 bytes).
fn truncations(p: &[u8]) -> impl Iterator<Item = &[u8]> {
    (nfl_runtime::testrun::MIN_PACKET_LEN..=p.len()).map(move |n| &p[..n])
}

fn corpus_frames() -> Vec<(String, Vec<u8>)> {
    let dir = std::env::var_os("NFL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus/tcpdump"));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "corpus missing at {}",
            dir.display()
        );
        eprintln!(
            "=== c_twins: no corpus at {}; edge cases only ===",
            dir.display()
        );
        return Vec::new();
    };
    let mut pcaps: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    pcaps.sort();
    let mut out = Vec::new();
    for path in &pcaps {
        let Ok(cap) = nfl_runtime::pcap::read_pcap(path) else {
            continue;
        };
        if !cap.is_ethernet() {
            continue;
        }
        let file = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        for (i, frame) in cap.frames.into_iter().enumerate() {
            if (nfl_runtime::testrun::MIN_PACKET_LEN..=XDP_SINGLE_BUFFER_MAX).contains(&frame.len())
            {
                out.push((format!("{file}#{i}"), frame));
            }
        }
    }
    out
}

/// Runs `a` and `b` on every packet; returns the mismatches.
fn differences(
    what: &str,
    a: &nfl_runtime::LoadedProgram,
    b: &nfl_runtime::LoadedProgram,
    packets: &[(String, Vec<u8>)],
    counts: &mut [usize; 2],
) -> Vec<String> {
    let mut bad = Vec::new();
    for (name, p) in packets {
        let ra = nfl_runtime::test_run(a.fd(), p, 1).map(|r| r.retval);
        let rb = nfl_runtime::test_run(b.fd(), p, 1).map(|r| r.retval);
        match (ra, rb) {
            (Ok(x), Ok(y)) if x == y => counts[usize::from(x == XDP_DROP)] += 1,
            (Ok(x), Ok(y)) => bad.push(format!(
                "{what}: {name} ({} bytes): nflc {x}, C {y}: {:02x?}",
                p.len(),
                p
            )),
            (x, y) => bad.push(format!(
                "{what}: {name}: test run failed: nflc {x:?}, C {y:?}"
            )),
        }
    }
    bad
}

#[test]
fn c_twins_agree_with_nflc_on_edge_cases_truncations_and_corpus() {
    if !twin_test_gate("c_twins_agree_with_nflc_on_edge_cases_truncations_and_corpus") {
        return;
    }
    let mut packets = Vec::new();
    for (name, p) in edge_cases() {
        for t in truncations(&p) {
            packets.push((format!("{name} [..{}]", t.len()), t.to_vec()));
        }
    }
    let n_crafted = packets.len();
    packets.extend(corpus_frames());
    eprintln!(
        "c_twins: {n_crafted} crafted packets and truncations, {} corpus frames",
        packets.len() - n_crafted
    );
    assert!(n_crafted > 3000, "only {n_crafted} crafted packets");

    let dir = tempfile::tempdir().expect("tempdir");
    let mut bad = Vec::new();

    // The whole NF: static_filter against its twin.
    let nf = load_nf("static_filter.nf", &example_text("static_filter"));
    let c = load_c("static_filter", dir.path(), &[]);
    let mut counts = [0usize; 2];
    bad.extend(differences("static_filter", &nf, &c, &packets, &mut counts));
    eprintln!(
        "static_filter: agree on {} passes and {} drops",
        counts[0], counts[1]
    );
    // The packets must exercise both verdicts a good deal.
    assert!(
        counts[0] > 1000 && counts[1] > 1000,
        "verdicts too one-sided: {counts:?}"
    );

    // The parser twin that parse_only.c keeps alive: each parse result it
    // computes, exposed as the verdict, against an nflc program that drops
    // on the same condition.
    let probes = [
        ("rejected", "pkt.rejected"),
        ("h.vlan[0]", "vlan[0].valid"),
        ("h.vlan[1]", "vlan[1].valid"),
        ("h.arp", "arp.valid"),
        ("h.ip4", "ipv4.valid"),
        ("h.ip6", "ipv6.valid"),
        ("h.icmp", "icmp.valid"),
        ("h.icmp6", "icmpv6.valid"),
        ("h.tcp", "tcp.valid"),
        ("h.udp", "udp.valid"),
    ];
    for (c_expr, nf_cond) in probes {
        let text = format!(
            "import std.net\ncontrol probe(xdp) {{\n    if {nf_cond} {{ drop }}\n    pass\n}}\n"
        );
        let nf = load_nf("probe.nf", &text);
        let define = format!("NF_EXPOSE={c_expr}");
        let c = load_c("parse_only", dir.path(), &[&define]);
        let mut counts = [0usize; 2];
        bad.extend(differences(nf_cond, &nf, &c, &packets, &mut counts));
        eprintln!(
            "parser {nf_cond:<14}: agree on {:>5} false, {:>5} true",
            counts[0], counts[1]
        );
        assert!(counts[1] > 0, "{nf_cond} is never true on the test packets");
    }

    let shown: Vec<&String> = bad.iter().take(40).collect();
    assert!(
        bad.is_empty(),
        "{} disagreements between nflc and the C twins, first ones:\n{shown:#?}",
        bad.len()
    );
}

// ---------------------------------------------------------------------------
// Run 6: the firewall and the router with tables and config (bench/nf/),
// each in four builds: nflc specialized (config folded, small static table
// inlined), nflc not specialized (the same rules in run-time maps, the
// config value read from a map), C with the rules compiled in, C with the
// rules in maps (bench/c/firewall.c, bench/c/router.c); the firewall also
// in a fifth, C walking nflc's tuple-space images. All must give the same
// verdict, the same output bytes and the same table statistics.

// bench/tables.rs reaches the shared helpers as `crate::common`.
use twins as common;
#[path = "../bench/fwgen.rs"]
mod fwgen;
#[path = "../bench/tables.rs"]
mod tables;

/// The builds of one NF, loaded, with their maps filled.
struct Four {
    progs: Vec<(&'static str, nfl_runtime::LoadedProgram)>,
}

impl Four {
    fn firewall(dir: &std::path::Path) -> (Four, Vec<fwgen::FwRule>, bool) {
        let spec = tables::build_bench_nf("firewall");
        let dyn_ = tables::build_bench_nf("firewall_dyn");
        let rules = tables::fw_rules_of(&spec.schema);
        assert_eq!(
            rules,
            tables::fw_rules_of(&dyn_.schema),
            "firewall.yaml and firewall_dyn.yaml must list the same rules"
        );
        assert!(
            spec.schema
                .explain
                .iter()
                .any(|l| l.contains("compiled into code")),
            "the specialized firewall's table is not inlined: {:?}",
            spec.schema.explain
        );
        assert!(
            dyn_.schema
                .explain
                .iter()
                .any(|l| l.contains("tuple-space")),
            "the unspecialized firewall's table is not a classifier: {:?}",
            dyn_.schema.explain
        );
        let drop_fragments = tables::config_value(&spec.schema, "drop_fragments") != 0;
        let header = tables::fw_header(&rules, drop_fragments);
        let c_static =
            tables::compile_twin_with("firewall", dir, &["FW_STATIC"], &[("fw_rules.h", header)])
                .unwrap_or_else(|e| panic!("{e}"));
        let c_dyn =
            tables::compile_twin_with("firewall", dir, &[], &[]).unwrap_or_else(|e| panic!("{e}"));
        let load = |obj: &[u8], what: &str| {
            nfl_runtime::load(obj, None).unwrap_or_else(|e| {
                panic!(
                    "{what}: {e}\n{}",
                    e.verifier_log()
                        .map(nfl_runtime::trim_verifier_log)
                        .unwrap_or_default()
                )
            })
        };
        let (p_spec, p_dyn) = (
            load(&spec.object, "firewall.nf"),
            load(&dyn_.object, "firewall_dyn.nf"),
        );
        tables::fill_nf(&p_spec, &spec, None);
        tables::fill_nf(&p_dyn, &dyn_, Some(u64::from(drop_fragments)));
        let (p_cs, p_cd) = (
            load(&c_static, "firewall.c static"),
            load(&c_dyn, "firewall.c"),
        );
        tables::fill_fw_c(&p_cd, &rules, drop_fragments, 64);
        // The same tuple-space classifier in C, on the images nflc built.
        let defines = tables::tss_defines(&dyn_.schema);
        let defines: Vec<&str> = defines.iter().map(String::as_str).collect();
        let c_tss = tables::compile_twin_with("firewall", dir, &defines, &[])
            .unwrap_or_else(|e| panic!("{e}"));
        let p_ct = load(&c_tss, "firewall.c TSS");
        tables::fill_tss_c(&p_ct, &dyn_, drop_fragments);
        let progs = vec![
            ("nflc spec", p_spec),
            ("nflc dyn", p_dyn),
            ("C static", p_cs),
            ("C dyn", p_cd),
            ("C TSS", p_ct),
        ];
        (Four { progs }, rules, drop_fragments)
    }

    fn router(dir: &std::path::Path) -> (Four, Vec<tables::Route>) {
        let spec = tables::build_bench_nf("router");
        let dyn_ = tables::build_bench_nf("router_dyn");
        let routes = tables::routes_of(&spec.schema);
        assert_eq!(
            routes,
            tables::routes_of(&dyn_.schema),
            "router.yaml and router_dyn.yaml must list the same routes"
        );
        assert!(
            spec.schema
                .explain
                .iter()
                .any(|l| l.contains("compiled into code")),
            "the specialized router's table is not inlined: {:?}",
            spec.schema.explain
        );
        let mac = tables::config_value(&spec.schema, "router_mac");
        let header = tables::rt_header(&routes, mac);
        let c_static =
            tables::compile_twin_with("router", dir, &["RT_STATIC"], &[("rt_routes.h", header)])
                .unwrap_or_else(|e| panic!("{e}"));
        let c_dyn =
            tables::compile_twin_with("router", dir, &[], &[]).unwrap_or_else(|e| panic!("{e}"));
        let load = |obj: &[u8], what: &str| {
            nfl_runtime::load(obj, None).unwrap_or_else(|e| panic!("{what}: {e}"))
        };
        let (p_spec, p_dyn) = (
            load(&spec.object, "router.nf"),
            load(&dyn_.object, "router_dyn.nf"),
        );
        tables::fill_nf(&p_spec, &spec, None);
        tables::fill_nf(&p_dyn, &dyn_, Some(mac));
        let (p_cs, p_cd) = (load(&c_static, "router.c static"), load(&c_dyn, "router.c"));
        tables::fill_rt_c(&p_cd, &routes, mac);
        let progs = vec![
            ("nflc spec", p_spec),
            ("nflc dyn", p_dyn),
            ("C static", p_cs),
            ("C dyn", p_cd),
        ];
        (Four { progs }, routes)
    }

    /// Run every program on every packet and require them to agree; the
    /// verdict and output of the first program on each packet.
    fn agree(&self, packets: &[(String, Vec<u8>)]) -> Vec<(u32, Vec<u8>)> {
        let mut first = Vec::new();
        let mut bad = Vec::new();
        for (name, p) in packets {
            let runs: Vec<_> = self
                .progs
                .iter()
                .map(|(who, prog)| {
                    let r = nfl_runtime::test_run(prog.fd(), p, 1)
                        .unwrap_or_else(|e| panic!("{who} on {name}: {e}"));
                    (r.retval, r.data_out)
                })
                .collect();
            for ((who, _), run) in self.progs.iter().zip(&runs).skip(1) {
                if *run != runs[0] {
                    bad.push(format!(
                        "{name}: {} gives {} {:02x?}, {who} gives {} {:02x?}",
                        self.progs[0].0, runs[0].0, runs[0].1, run.0, run.1
                    ));
                }
            }
            first.extend(runs.into_iter().next());
        }
        let shown: Vec<&String> = bad.iter().take(20).collect();
        assert!(
            bad.is_empty(),
            "{} disagreements, first ones:\n{shown:#?}",
            bad.len()
        );
        first
    }

    /// The hit and miss statistics agree.
    fn same_stats(&self, map_nf: &str, map_c: &str) {
        let get = |i: usize| {
            let (who, prog) = &self.progs[i];
            let map = if who.starts_with('C') { map_c } else { map_nf };
            (tables::stats(prog, map, 0), tables::stats(prog, map, 1))
        };
        let first = get(0);
        for i in 1..self.progs.len() {
            assert_eq!(
                first,
                get(i),
                "{} (left) and {} (right) count hits and misses differently",
                self.progs[0].0,
                self.progs[i].0
            );
        }
        eprintln!(
            "stats: hits {:?}, misses {:?} (packets, bytes)",
            first.0, first.1
        );
    }
}

/// `packets`, the benchmark's packets, and each cut short `cuts` ways.
fn with_common(mut packets: Vec<(String, Vec<u8>)>, cuts: usize) -> Vec<(String, Vec<u8>)> {
    packets.extend(
        bench_packets()
            .into_iter()
            .map(|(n, p, _)| (format!("common: {n}"), p)),
    );
    with_truncations(packets, cuts)
}

/// Packets plus every truncation of the first `truncated` of them.
fn with_truncations(packets: Vec<(String, Vec<u8>)>, truncated: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, (name, p)) in packets.into_iter().enumerate() {
        if i < truncated {
            for t in truncations(&p).filter(|t| t.len() < p.len()) {
                out.push((format!("{name} [..{}]", t.len()), t.to_vec()));
            }
        }
        out.push((name, p));
    }
    out
}

#[test]
fn firewall_twins_agree_with_nflc_specialized_and_not() {
    if !twin_test_gate("firewall_twins_agree_with_nflc_specialized_and_not") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (four, rules, drop_fragments) = Four::firewall(dir.path());
    assert!(drop_fragments, "firewall.yaml sets drop_fragments");

    // The timed packets, then packets at the edges of every rule (and
    // random ones), fragments, and packets that are not IPv4/TCP/UDP.
    let mut tuples: Vec<(String, fwgen::FiveTuple)> = tables::fw_bench_tuples()
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect();
    tuples.extend(
        fwgen::tuples(&rules, 3000, 6)
            .into_iter()
            .enumerate()
            .map(|(i, t)| (format!("edge #{i} {t:?}"), t)),
    );
    let mut packets: Vec<(String, Vec<u8>)> = tuples
        .iter()
        .map(|(n, t)| (n.clone(), tables::tuple_packet(t)))
        .collect();
    for (name, t) in tuples.iter().take(5) {
        for flags_frag in [0x2001u16, 0x0001, 0x1fff, 0x2000, 0x4000] {
            let mut p = tables::tuple_packet(t);
            p[20..22].copy_from_slice(&flags_frag.to_be_bytes());
            packets.push((format!("{name} frag {flags_frag:#06x}"), p));
        }
    }
    let packets = with_common(packets, 5);

    let runs = four.agree(&packets);
    let verdicts: Vec<u32> = runs.iter().map(|r| r.0).collect();

    // And with the reference: the timed and edge packets are whole,
    // first-fragment IPv4, so the first matching rule decides.
    let by_name: std::collections::HashMap<&str, u32> = packets
        .iter()
        .map(|(n, _)| n.as_str())
        .zip(verdicts.iter().copied())
        .collect();
    for (name, t) in &tuples {
        let want = match fwgen::reference(&rules, t) {
            Some(r) if rules[r].deny => tables::XDP_DROP,
            _ => tables::XDP_PASS,
        };
        assert_eq!(
            by_name[name.as_str()],
            want,
            "{name}: against the reference"
        );
    }
    let drops = verdicts.iter().filter(|&&v| v == tables::XDP_DROP).count();
    eprintln!(
        "firewall: {} builds agree on {} packets ({drops} dropped)",
        four.progs.len(),
        packets.len()
    );
    assert!(
        drops > 500 && packets.len() - drops > 500,
        "verdicts too one-sided: {drops} of {}",
        packets.len()
    );
    four.same_stats("acl_stats", "acl_stats");
}

/// Internet checksum of an IPv4 header (0 when it is valid).
fn ipv4_header_sum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[test]
fn router_twins_agree_with_nflc_specialized_and_not() {
    if !twin_test_gate("router_twins_agree_with_nflc_specialized_and_not") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (four, routes) = Four::router(dir.path());
    let mut packets: Vec<(String, Vec<u8>)> = tables::rt_bench_packets()
        .into_iter()
        .map(|(n, p)| (n.to_string(), p))
        .collect();
    let udp = |dst: [u8; 4], ttl: u8| {
        let ip = Ipv4 {
            ttl,
            ..Ipv4::new(IPPROTO_UDP, v4(198, 18, 0, 1), dst)
        };
        ipv4_packet(&[], ip, &udp_header(40000, 53, 4), b"abcd")
    };
    // Every route's first and last address and their neighbours.
    for r in &routes {
        let mask = u32::MAX << (32 - r.len);
        for d in [
            r.net,
            r.net | !mask,
            r.net.wrapping_sub(1),
            (r.net | !mask).wrapping_add(1),
        ] {
            packets.push((
                format!("to {:?}", d.to_be_bytes()),
                udp(d.to_be_bytes(), 64),
            ));
        }
    }
    let mut rng = fwgen::Rng::new(7);
    for _ in 0..2000 {
        let d = fwgen::bench_addr(&mut rng);
        packets.push((
            format!("to {:?}", d.to_be_bytes()),
            udp(d.to_be_bytes(), 64),
        ));
    }
    for ttl in [0u8, 1, 2, 3, 255] {
        packets.push((format!("ttl {ttl}"), udp([198, 18, 1, 10], ttl)));
    }
    // Checksums around the end-around carry.
    for check in [
        0x0000u16, 0x00ff, 0x0100, 0xfeff, 0xff00, 0xfffe, 0xffff, 0x7fff,
    ] {
        let mut p = udp([198, 18, 1, 10], 64);
        p[24..26].copy_from_slice(&check.to_be_bytes());
        packets.push((format!("checksum {check:#06x}"), p));
    }
    let packets = with_common(packets, 2);

    let runs = four.agree(&packets);

    // Forwarded packets with a valid checksum keep a valid one, and go
    // where the longest prefix says.
    let mut forwarded = 0;
    for ((name, p), (verdict, out)) in packets.iter().zip(&runs) {
        if p.len() < 34 || p[12..14] != [0x08, 0x00] || *verdict != tables::XDP_REDIRECT {
            continue;
        }
        forwarded += 1;
        let dst = u32::from_be_bytes([p[30], p[31], p[32], p[33]]);
        let route = routes
            .iter()
            .find(|r| dst & (u32::MAX << (32 - r.len)) == r.net)
            .unwrap_or_else(|| panic!("{name}: forwarded without a route"));
        assert_eq!(
            out[..6],
            route.mac.to_be_bytes()[2..],
            "{name}: next hop MAC"
        );
        assert_eq!(out[22], p[22] - 1, "{name}: TTL");
        if ipv4_header_sum(&p[14..34]) == 0 {
            assert_eq!(
                ipv4_header_sum(&out[14..34]),
                0,
                "{name}: checksum after forwarding"
            );
        }
    }
    eprintln!(
        "router: 4 builds agree on {} packets ({forwarded} forwarded)",
        packets.len()
    );
    assert!(forwarded > 1000, "only {forwarded} forwarded");
    four.same_stats("routes_stats", "routes_stats");
}
