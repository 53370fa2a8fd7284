//! The sketch C twins (`bench/c/countmin.c`, `bench/c/nitro.c`, timed by
//! `bench/sketch_bench.rs`) compute exactly what nflc's sketch lowering
//! computes, and both equal the Rust twins in `kfunc-lib`:
//! - count-min: after the same 10,000 packets, the `talkers` map values of
//!   the nflc program and of the C program are byte for byte
//!   `kfunc_lib::count_min::CountMin`'s counters, and (with a
//!   `query() > T` threshold) every verdict is the one the Rust twin
//!   predicts. Several shapes (1, 3, 4 and 8 rows);
//! - NitroSketch: after the same 10,000 packets, on one CPU, the `flows`
//!   counters of both programs are byte for byte `kfunc_lib::Nitro`'s and
//!   that CPU's `flows_nitro` sampler state is the twin's `state()`.
//!
//! C is built both with the default CPU (as the benchmark's main C twin)
//! and with `-mcpu=v3`.
//!
//! Needs BPF (skips loudly without it, fails under NFL_REQUIRE_KERNEL=1)
//! and clang (same rule).

#[path = "../bench/common.rs"]
mod twins;

use kfunc_lib::XorShift64Star;
use std::path::Path;

use kfunc_lib::count_min::CountMin;
use kfunc_lib::{Nitro, NitroState};
use nfl_runtime::LoadedProgram;
use twins::*;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const PACKETS: usize = 10_000;

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

/// Compile and load `bench/c/<name>.c` with `defines`, adding
/// `-mcpu=v3` when `v3`.
fn load_c(name: &str, dir: &Path, defines: &[String], v3: bool) -> LoadedProgram {
    let defs: Vec<&str> = defines.iter().map(String::as_str).collect();
    let path = compile_twin_cpu(name, dir, &defs, v3).unwrap_or_else(|e| panic!("{e}"));
    let obj = std::fs::read(&path).expect("read object");
    nfl_runtime::load(&obj, None).unwrap_or_else(|e| {
        panic!(
            "the verifier rejected {name}.c {defs:?} (v3 {v3}): {e}\n{}",
            e.verifier_log()
                .map(nfl_runtime::trim_verifier_log)
                .unwrap_or_default()
        )
    })
}

/// The nflc program, then the C twin `name` with the default CPU and with
/// `-mcpu=v3`.
fn programs(
    dir: &Path,
    object: &[u8],
    name: &str,
    defines: &[String],
    what: &str,
) -> Vec<(&'static str, LoadedProgram)> {
    let nf = nfl_runtime::load(object, None)
        .unwrap_or_else(|e| panic!("load nflc program ({what}): {e}"));
    vec![
        ("nflc", nf),
        ("C", load_c(name, dir, defines, false)),
        ("C -mcpu=v3", load_c(name, dir, defines, true)),
    ]
}

/// Panics at the first byte where `got` differs from `want`, naming the
/// counter (row, col) it belongs to.
fn same_counters(who: &str, what: &str, got: &[u8], want: &[u8], cols: u32) {
    assert_eq!(got.len(), want.len(), "{who} ({what}): value size");
    if let Some(at) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!(
            "{who} ({what}): counters differ from the Rust twin's, first at byte {at} (row {}, col {}): {:02x?} vs {:02x?}",
            at / 4 / cols as usize,
            at / 4 % cols as usize,
            &got[at & !3..(at & !3) + 4],
            &want[at & !3..(at & !3) + 4]
        );
    }
}


/// A source address of 198.18.0.0/15 for popularity rank `r`.
fn source(r: u64) -> u32 {
    let spread = (r.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 47) as u32; // 17 bits
    0xC612_0000 | spread
}

/// A test packet and what it counts under: `src` when `ipv4.valid`,
/// `sport` (its UDP source port) when `udp.valid` too.
struct Pkt {
    bytes: Vec<u8>,
    src: Option<u32>,
    sport: Option<u16>,
}

/// `n` packets: mostly IPv4/UDP with Zipf(1) sources over 512 addresses
/// (source ports 40000 + rank mod 61), also TCP, IPv4/UDP under one and
/// IPv4/TCP under two VLAN tags, IPv4/UDP with options and non-first
/// fragments (no UDP header), a bad IPv4 version (the header is valid, the
/// parse rejects before UDP), truncated IPv4 headers, IPv6 and ARP.
fn packets(n: usize, seed: u64) -> Vec<Pkt> {
    let ranks = 512u64;
    let mut cdf = Vec::with_capacity(ranks as usize);
    let mut sum = 0.0;
    for r in 1..=ranks {
        sum += 1.0 / r as f64;
        cdf.push(sum);
    }
    let mut rng = XorShift64Star::new(seed | 1);
    let dst = v4(198, 19, 0, 1);
    let pkt = |bytes, src, sport| Pkt { bytes, src, sport };
    (0..n)
        .map(|_| {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * sum;
            let rank = cdf.partition_point(|&c| c < u) as u64;
            let src = source(rank);
            let sport = 40000 + (rank % 61) as u16;
            let ip = |proto| Ipv4::new(proto, src.to_be_bytes(), dst);
            let udp = |ip| {
                ipv4_packet(
                    &[],
                    ip,
                    &udp_header(sport, 53, DNS_PAYLOAD.len()),
                    DNS_PAYLOAD,
                )
            };
            match rng.next_u64() % 40 {
                0 => pkt(
                    ipv4_packet(&[], ip(IPPROTO_TCP), &tcp_header(1234, 80, TCP_SYN), &[]),
                    Some(src),
                    None,
                ),
                1 => pkt(
                    ipv4_packet(
                        &[(ETH_P_VLAN, 7)],
                        ip(IPPROTO_UDP),
                        &udp_header(1, 2, 0),
                        &[],
                    ),
                    Some(src),
                    Some(1),
                ),
                2 => pkt(
                    ipv4_packet(
                        &[(ETH_P_QINQ, 100), (ETH_P_VLAN, 200)],
                        ip(IPPROTO_TCP),
                        &tcp_header(1, 2, TCP_ACK),
                        &[],
                    ),
                    Some(src),
                    None,
                ),
                3 => {
                    let mut h = ip(IPPROTO_UDP);
                    h.ihl = 6 + (rng.next_u64() % 10) as u8;
                    pkt(udp(h), Some(src), Some(sport))
                }
                4 => {
                    let mut h = ip(IPPROTO_UDP);
                    h.flags_frag = 0x2000 | 185;
                    pkt(udp(h), Some(src), None)
                }
                5 => {
                    let mut h = ip(IPPROTO_UDP);
                    h.version = 6;
                    pkt(udp(h), Some(src), None)
                }
                6 => {
                    // Ethernet and 1..=19 bytes of the IPv4 header.
                    let p = udp(ip(IPPROTO_UDP));
                    let keep = 14 + 1 + (rng.next_u64() % 19) as usize;
                    pkt(p[..keep].to_vec(), None, None)
                }
                7 => pkt(
                    ipv6_packet(&[], IPPROTO_UDP, 64, &udp_header(1, 2, 0), &[]),
                    None,
                    None,
                ),
                8 => {
                    let mut p = ethernet(&[], ETH_P_ARP);
                    p.extend_from_slice(&[0; 28]);
                    pkt(p, None, None)
                }
                _ => pkt(udp(ip(IPPROTO_UDP)), Some(src), Some(sport)),
            }
        })
        .collect()
}

/// Runs `pkt` through each program once, expecting `want`.
fn run_all(progs: &[(&str, LoadedProgram)], what: &str, i: usize, pkt: &Pkt, want: u32) {
    for (who, prog) in progs {
        let r = nfl_runtime::test_run(prog.fd(), &pkt.bytes, 1)
            .unwrap_or_else(|e| panic!("{who} ({what}) on packet {i}: {e}"));
        assert_eq!(
            r.retval,
            want,
            "{who} ({what}): verdict on packet {i} ({:x?}, {} bytes)",
            pkt.src,
            pkt.bytes.len()
        );
    }
}

/// Runs every packet through each program once and checks, per packet,
/// the verdict the Rust twin predicts; then that each program's counters
/// are the Rust twin's, byte for byte.
fn check_shape(dir: &Path, rows: u32, cols: u32, threshold: Option<u32>) {
    let what = format!("rows {rows}, cols {cols}, threshold {threshold:?}");
    let build = build_nf("cm.nf", &nf_source(rows, cols, threshold));
    let defines = c_defines(rows, cols, threshold);
    let progs = programs(dir, &build.object, "countmin", &defines, &what);
    let mut twin = CountMin::new(rows, cols).expect("shape");
    let (mut counted, mut drops) = (0usize, 0usize);
    for (i, pkt) in packets(PACKETS, 0x5EED ^ u64::from(rows * cols))
        .iter()
        .enumerate()
    {
        let mut want = XDP_PASS;
        if let Some(src) = pkt.src {
            let key = src.to_le_bytes();
            twin.add(&key, 1);
            counted += 1;
            if threshold.is_some_and(|t| twin.query(&key) > t) {
                want = XDP_DROP;
                drops += 1;
            }
        }
        run_all(&progs, &what, i, pkt, want);
    }
    let want = twin.to_bytes();
    assert_eq!(want.len(), (rows * cols * 4) as usize);
    for (who, prog) in &progs {
        let got = read_map_value(prog, &build.schema, "talkers");
        same_counters(who, &what, &got, &want, cols);
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
    if !twin_test_gate("count_min_add_c_twin_and_nflc_equal_the_rust_twin") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (rows, cols) in SHAPES {
        check_shape(dir.path(), rows, cols, None);
    }
}

#[test]
fn count_min_add_query_threshold_c_twin_and_nflc_equal_the_rust_twin() {
    if !twin_test_gate("count_min_add_query_threshold_c_twin_and_nflc_equal_the_rust_twin") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (rows, cols) in SHAPES {
        check_shape(dir.path(), rows, cols, Some(20));
    }
}

/// The nflc NitroSketch program `bench/c/nitro.c` mirrors.
fn nitro_source(rows: u32, cols: u32, log2p: u32) -> String {
    format!(
        "import std.net\n\
         sketch flows: nitro(rows = {rows}, cols = {cols}, p = {}) keyed (ipv4.src, udp.src_port)\n\
         control nm(xdp) {{\n    if !ipv4.valid || !udp.valid {{ pass }}\n    flows.add()\n    pass\n}}\n",
        1.0 / f64::from(1u32 << log2p)
    )
}

/// The 8-byte key: ipv4.src and udp.src_port in host order, little-endian,
/// zero padding.
fn nitro_key(src: u32, sport: u16) -> [u8; 8] {
    let mut key = [0u8; 8];
    key[..4].copy_from_slice(&src.to_le_bytes());
    key[4..6].copy_from_slice(&sport.to_le_bytes());
    key
}



/// `{skip, cursor}` of `cpu` in a `flows_nitro` lookup result (per-CPU
/// values are 8-byte aligned slots).
fn nitro_state(per_cpu: &[u8], cpu: usize) -> NitroState {
    let v = &per_cpu[cpu * 8..cpu * 8 + 8];
    NitroState {
        skip: u32::from_le_bytes(v[0..4].try_into().expect("4 bytes")),
        cursor: u32::from_le_bytes(v[4..8].try_into().expect("4 bytes")),
    }
}

/// The NitroSketch shape `rows` x `cols`, p = 2^-log2p: every packet
/// through nflc's program and the C twins on CPU 0, then the counters and
/// CPU 0's sampler state against the Rust twin fed the same keys.
fn check_nitro(dir: &Path, rows: u32, cols: u32, log2p: u32) {
    const CPU: usize = 0;
    nfl_runtime::testrun::pin_thread_to_cpu(CPU).expect("pin to CPU 0");
    let what = format!("nitro rows {rows}, cols {cols}, p 2^-{log2p}");
    let build = build_nf("nm.nf", &nitro_source(rows, cols, log2p));
    let defines = vec![
        format!("NS_ROWS={rows}"),
        format!("NS_COLS={cols}"),
        format!("NS_LOG2P={log2p}"),
    ];
    let progs = programs(dir, &build.object, "nitro", &defines, &what);
    // nflc's loader fills its pool from the object; the C twins' pools are
    // written here, from kfunc-lib's generator.
    nfl_runtime::state::init_maps(&progs[0].1, &build.object)
        .unwrap_or_else(|e| panic!("{what}: fill nflc's maps: {e}"));
    for (_, prog) in &progs[1..] {
        write_nitro_pool(prog, &build.schema, "flows_pool", log2p);
    }
    let pool = nfl_compiler::schema::nitro_pool(log2p).expect("pool");
    let mut twin = Nitro::new(rows, cols, &pool).expect("shape");
    let (mut counted, mut sampled) = (0usize, 0usize);
    for (i, pkt) in packets(PACKETS, 0x7175 ^ u64::from(rows * cols))
        .iter()
        .enumerate()
    {
        if let (Some(src), Some(sport)) = (pkt.src, pkt.sport) {
            let before = twin.state().cursor;
            twin.add(&nitro_key(src, sport), 1);
            counted += 1;
            // The cursor advances once per sampled row (< pool length).
            sampled += (twin.state().cursor + pool.len() as u32 - before) as usize % pool.len();
        }
        run_all(&progs, &what, i, pkt, XDP_PASS);
    }
    let want = twin.sketch().to_bytes();
    assert_eq!(want.len(), (rows * cols * 4) as usize);
    for (who, prog) in &progs {
        let got = read_map_value(prog, &build.schema, "flows");
        same_counters(who, &what, &got, &want, cols);
        let st = read_map_value(prog, &build.schema, "flows_nitro");
        assert_eq!(
            nitro_state(&st, CPU),
            twin.state(),
            "{who} ({what}): CPU {CPU}'s sampler state"
        );
    }
    // The test means something: most packets count, and the sampler
    // both updated rows (rows/2^log2p per packet on average) and passed
    // over them.
    let updated = want.chunks(4).filter(|c| *c != [0u8; 4]).count();
    let expected = (counted * rows as usize) >> log2p;
    assert!(counted > PACKETS * 3 / 4, "{what}: only {counted} counted");
    assert!(
        sampled > expected / 2 && sampled < expected * 2,
        "{what}: {sampled} row updates sampled of {counted} packets x {rows} rows"
    );
    assert!(updated > 100, "{what}: only {updated} counters non-zero");
    eprintln!(
        "{what}: {counted} of {PACKETS} packets counted, {sampled} row updates sampled, {updated} counters non-zero, state {:?}; all equal",
        twin.state()
    );
}

#[test]
fn nitrosketch_c_twin_and_nflc_equal_the_rust_twin_on_one_cpu() {
    if !twin_test_gate("nitrosketch_c_twin_and_nflc_equal_the_rust_twin_on_one_cpu") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (rows, cols, log2p) in [(4, 4096, 3), (3, 256, 2), (1, 4096, 3)] {
        check_nitro(dir.path(), rows, cols, log2p);
    }
}
