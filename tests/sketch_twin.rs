//! The count-min C twin (`bench/c/countmin.c`, timed by
//! `bench/sketch_bench.rs`) computes exactly what nflc's sketch lowering
//! computes, and both equal the Rust twin `kfunc_lib::count_min::CountMin`:
//! after the same 10,000 packets, the `talkers` map values of the nflc
//! program and of the C program are byte for byte the Rust twin's counters,
//! and (with a `query() > T` threshold) every verdict is the one the Rust
//! twin predicts. Several shapes (1, 3, 4 and 8 rows), C built both with the
//! default CPU (as the benchmark's main C twin) and with `-mcpu=v3`.
//!
//! Needs BPF (skips loudly without it, fails under NFL_REQUIRE_KERNEL=1)
//! and clang (same rule).

#[path = "../bench/common.rs"]
mod twins;

use std::path::Path;

use kfunc_lib::count_min::CountMin;
use nfl_compiler::schema::Schema;
use nfl_runtime::LoadedProgram;
use nfl_runtime::mapops;
use nfl_runtime::state::MapSet;
use twins::*;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const PACKETS: usize = 10_000;

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

/// The nflc program the C twin mirrors.
fn nf_source(rows: u32, cols: u32, threshold: Option<u32>) -> String {
    let query = threshold.map_or(String::new(), |t| {
        format!("    if talkers.query() > {t} {{ drop }}\n")
    });
    format!(
        "import std.net\n\
         sketch talkers: count_min(rows = {rows}, cols = {cols}) keyed ipv4.src\n\
         control cm(xdp) {{\n    if !ipv4.valid {{ pass }}\n    talkers.add()\n{query}    pass\n}}\n"
    )
}

/// The C twin's defines for a shape and threshold.
fn c_defines(rows: u32, cols: u32, threshold: Option<u32>) -> Vec<String> {
    let mut d = vec![format!("CM_ROWS={rows}"), format!("CM_COLS={cols}")];
    d.extend(threshold.map(|t| format!("CM_THRESHOLD={t}")));
    d
}

/// Compile and load `bench/c/countmin.c` with `defines`, adding `-mcpu=v3`
/// when `v3`.
fn load_c(dir: &Path, defines: &[String], v3: bool) -> LoadedProgram {
    let mut defs: Vec<&str> = defines.iter().map(String::as_str).collect();
    if v3 {
        defs.push("CM_CPU_V3"); // names the object; the C does not read it
    }
    let obj = if v3 {
        let src = c_dir().join("countmin.c");
        let out = twin_object_path("countmin", dir, &defs);
        let mut cmd = clang_command(&src, &out);
        cmd.arg("-mcpu=v3");
        cmd.args(defs.iter().map(|d| format!("-D{d}")));
        let o = cmd.output().expect("run clang");
        assert!(
            o.status.success(),
            "clang -mcpu=v3 countmin.c: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::fs::read(&out).expect("read object")
    } else {
        compile_twin("countmin", dir, &defs).unwrap_or_else(|e| panic!("{e}"))
    };
    nfl_runtime::load(&obj, None).unwrap_or_else(|e| {
        panic!(
            "the verifier rejected countmin.c {defs:?}: {e}\n{}",
            e.verifier_log()
                .map(nfl_runtime::trim_verifier_log)
                .unwrap_or_default()
        )
    })
}

/// The `talkers` map's value (key 0), read with the raw syscall. The map
/// is found by name in either program, through the nflc build's schema.
fn talkers(prog: &LoadedProgram, schema: &Schema) -> Vec<u8> {
    let schema = Schema {
        maps: schema
            .maps
            .iter()
            .filter(|m| m.name == "talkers")
            .cloned()
            .collect(),
        ..schema.clone()
    };
    assert_eq!(schema.maps.len(), 1, "the nflc build has no map `talkers`");
    let set = MapSet::from_loaded(prog, &schema)
        .unwrap_or_else(|e| panic!("maps of {}: {e}", prog.name()));
    let h = set.get("talkers").expect("talkers");
    mapops::lookup(h.fd(), h.shape, &0u32.to_ne_bytes())
        .expect("read talkers")
        .expect("the array has entry 0")
}

/// xorshift64*: deterministic packets without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A source address of 198.18.0.0/15 for popularity rank `r`.
fn source(r: u64) -> u32 {
    let spread = (r.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 47) as u32; // 17 bits
    0xC612_0000 | spread
}

/// `n` packets: mostly IPv4/UDP with Zipf(1) sources over 512 addresses,
/// also TCP, IPv4 under one and two VLAN tags, IPv4 with options and
/// non-first fragments, a bad IPv4 version (the header is valid, the parse
/// rejects: it counts), truncated IPv4 headers, IPv6 and ARP (these do not
/// count). Each with the source it counts under, if any.
fn packets(n: usize, seed: u64) -> Vec<(Vec<u8>, Option<u32>)> {
    let ranks = 512u64;
    let mut cdf = Vec::with_capacity(ranks as usize);
    let mut sum = 0.0;
    for r in 1..=ranks {
        sum += 1.0 / r as f64;
        cdf.push(sum);
    }
    let mut rng = Rng(seed | 1);
    let dst = v4(198, 19, 0, 1);
    (0..n)
        .map(|_| {
            let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * sum;
            let rank = cdf.partition_point(|&c| c < u) as u64;
            let src = source(rank);
            let ip = |proto| Ipv4::new(proto, src.to_be_bytes(), dst);
            let udp = |ip| {
                ipv4_packet(
                    &[],
                    ip,
                    &udp_header(40000, 53, DNS_PAYLOAD.len()),
                    DNS_PAYLOAD,
                )
            };
            match rng.below(40) {
                0 => (
                    ipv4_packet(&[], ip(IPPROTO_TCP), &tcp_header(1234, 80, TCP_SYN), &[]),
                    Some(src),
                ),
                1 => (
                    ipv4_packet(
                        &[(ETH_P_VLAN, 7)],
                        ip(IPPROTO_UDP),
                        &udp_header(1, 2, 0),
                        &[],
                    ),
                    Some(src),
                ),
                2 => (
                    ipv4_packet(
                        &[(ETH_P_QINQ, 100), (ETH_P_VLAN, 200)],
                        ip(IPPROTO_TCP),
                        &tcp_header(1, 2, TCP_ACK),
                        &[],
                    ),
                    Some(src),
                ),
                3 => {
                    let mut h = ip(IPPROTO_UDP);
                    h.ihl = 6 + rng.below(10) as u8;
                    (udp(h), Some(src))
                }
                4 => {
                    let mut h = ip(IPPROTO_UDP);
                    h.flags_frag = 0x2000 | 185;
                    (udp(h), Some(src))
                }
                5 => {
                    let mut h = ip(IPPROTO_UDP);
                    h.version = 6;
                    (udp(h), Some(src))
                }
                6 => {
                    // Ethernet and 1..=19 bytes of the IPv4 header.
                    let p = udp(ip(IPPROTO_UDP));
                    let keep = 14 + 1 + rng.below(19) as usize;
                    (p[..keep].to_vec(), None)
                }
                7 => (
                    ipv6_packet(&[], IPPROTO_UDP, 64, &udp_header(1, 2, 0), &[]),
                    None,
                ),
                8 => {
                    let mut p = ethernet(&[], ETH_P_ARP);
                    p.extend_from_slice(&[0; 28]);
                    (p, None)
                }
                _ => (udp(ip(IPPROTO_UDP)), Some(src)),
            }
        })
        .collect()
}

/// Runs every packet through each program once and checks, per packet,
/// the verdict the Rust twin predicts; then that each program's counters
/// are the Rust twin's, byte for byte.
fn check_shape(dir: &Path, rows: u32, cols: u32, threshold: Option<u32>) {
    let what = format!("rows {rows}, cols {cols}, threshold {threshold:?}");
    let build = build_nf("cm.nf", &nf_source(rows, cols, threshold));
    let nf = nfl_runtime::load(&build.object, None)
        .unwrap_or_else(|e| panic!("load nflc program ({what}): {e}"));
    let defines = c_defines(rows, cols, threshold);
    let progs: Vec<(&str, LoadedProgram)> = vec![
        ("nflc", nf),
        ("C", load_c(dir, &defines, false)),
        ("C -mcpu=v3", load_c(dir, &defines, true)),
    ];
    let mut twin = CountMin::new(rows, cols).expect("shape");
    let (mut counted, mut drops) = (0usize, 0usize);
    for (i, (pkt, src)) in packets(PACKETS, 0x5EED ^ u64::from(rows * cols))
        .iter()
        .enumerate()
    {
        let mut want = XDP_PASS;
        if let Some(src) = src {
            let key = src.to_le_bytes();
            twin.add(&key, 1);
            counted += 1;
            if threshold.is_some_and(|t| twin.query(&key) > t) {
                want = XDP_DROP;
                drops += 1;
            }
        }
        for (who, prog) in &progs {
            let r = nfl_runtime::test_run(prog.fd(), pkt, 1)
                .unwrap_or_else(|e| panic!("{who} ({what}) on packet {i}: {e}"));
            assert_eq!(
                r.retval,
                want,
                "{who} ({what}): verdict on packet {i} ({src:x?}, {} bytes)",
                pkt.len()
            );
        }
    }
    let want = twin.to_bytes();
    assert_eq!(want.len(), (rows * cols * 4) as usize);
    for (who, prog) in &progs {
        let got = talkers(prog, &build.schema);
        assert_eq!(got.len(), want.len(), "{who} ({what}): value size");
        if let Some(at) = got.iter().zip(&want).position(|(a, b)| a != b) {
            panic!(
                "{who} ({what}): counters differ from the Rust twin's, first at byte {at} (row {}, col {}): {:02x?} vs {:02x?}",
                at / 4 / cols as usize,
                at / 4 % cols as usize,
                &got[at & !3..(at & !3) + 4],
                &want[at & !3..(at & !3) + 4]
            );
        }
    }
    // The test means something: most packets count, counters collide
    // little, and the threshold both drops and passes.
    let total: u64 = twin.counters().iter().map(|&c| u64::from(c)).sum();
    assert_eq!(total, u64::from(rows) * counted as u64);
    assert!(counted > PACKETS * 8 / 10, "{what}: only {counted} counted");
    if threshold.is_some() {
        assert!(
            drops > 0 && drops < counted,
            "{what}: {drops} drops of {counted}"
        );
    }
    eprintln!("{what}: {counted} of {PACKETS} packets counted, {drops} dropped; all equal");
}

const SHAPES: [(u32, u32); 4] = [(1, 4096), (4, 4096), (8, 4096), (3, 256)];

#[test]
fn count_min_add_c_twin_and_nflc_equal_the_rust_twin() {
    if !gate("count_min_add_c_twin_and_nflc_equal_the_rust_twin") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (rows, cols) in SHAPES {
        check_shape(dir.path(), rows, cols, None);
    }
}

#[test]
fn count_min_add_query_threshold_c_twin_and_nflc_equal_the_rust_twin() {
    if !gate("count_min_add_query_threshold_c_twin_and_nflc_equal_the_rust_twin") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (rows, cols) in SHAPES {
        check_shape(dir.path(), rows, cols, Some(20));
    }
}
