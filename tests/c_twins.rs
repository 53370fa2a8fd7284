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

/// `false` (after a loud message) when the test cannot run here.
fn gate(test: &str) -> bool {
    if !nfl_runtime::require_kernel(test) {
        return false;
    }
    if !clang_available() {
        if std::env::var("NFL_REQUIRE_KERNEL").is_ok_and(|v| v == "1") {
            panic!("{test}: NFL_REQUIRE_KERNEL=1 but clang is not installed");
        }
        eprintln!(
            "=== SKIPPED {test}: clang is not installed (apt-get install clang libbpf-dev) ==="
        );
        return false;
    }
    true
}

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
    if !gate("c_twins_pass_the_example_tests") {
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
    if !gate("c_twins_agree_with_nflc_on_edge_cases_truncations_and_corpus") {
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
