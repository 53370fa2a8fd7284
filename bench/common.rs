//! Shared by the benchmark (`bench/compare.rs`) and the equivalence test
//! (`tests/c_twins.rs`): building the `.nf` examples, compiling the C twins
//! in `bench/c/` with clang, and building test packets.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use nfl_compiler::driver::{self, Build};
use nfl_compiler::frontend::ModuleLoader;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory of the C twins.
pub fn c_dir() -> PathBuf {
    root().join("bench/c")
}

/// Only `std.*` imports resolve (they are built into nflc); the examples
/// import nothing else.
pub struct StdOnly;

impl ModuleLoader for StdOnly {
    fn load(&mut self, _path: &[String]) -> Option<(String, String)> {
        None
    }
}

/// `examples/<name>.nf`, as text.
pub fn example_text(name: &str) -> String {
    let path = root().join("examples").join(format!("{name}.nf"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Build `.nf` source text, or panic with the rendered diagnostics.
pub fn build_nf(name: &str, text: &str) -> Build {
    match driver::build(name, text, &mut StdOnly) {
        Ok(b) => b,
        Err(f) => panic!(
            "{name} does not compile:\n{}",
            nfl_syntax::diag::render_all(&f.diagnostics, &f.sources, false)
        ),
    }
}

/// Whether `clang` runs.
pub fn clang_available() -> bool {
    Command::new("clang")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether benchmark `bench` can measure here (BPF usable, clang there);
/// a loud line saying why not otherwise.
pub fn bench_ready(bench: &str) -> bool {
    if let Err(why) = nfl_runtime::bpf_available() {
        eprintln!("=== {bench}: BPF is not usable here ({why}); nothing to measure ===");
        return false;
    }
    if !clang_available() {
        eprintln!("=== {bench}: clang is not installed; nothing to compare against ===");
        return false;
    }
    true
}

/// Whether twin test `test` can run here (the kernel gate, and clang):
/// `false` after a loud message, a panic under `NFL_REQUIRE_KERNEL=1`.
pub fn twin_test_gate(test: &str) -> bool {
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

/// The multiarch include directory (`/usr/include/<triple>`) that holds
/// `asm/types.h` from linux-libc-dev. `clang -target bpf` does not search it
/// by itself, and `<linux/types.h>` needs it.
pub fn multiarch_include() -> Option<PathBuf> {
    let arch = std::env::consts::ARCH;
    let preferred = PathBuf::from(format!("/usr/include/{arch}-linux-gnu"));
    if preferred.join("asm/types.h").exists() {
        return Some(preferred);
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/include")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("-linux-"))
        })
        .filter(|p| p.join("asm/types.h").exists())
        .collect();
    dirs.sort();
    dirs.into_iter().next()
}

/// The clang command line for one C twin: `clang -O2 -g -target bpf -c`.
pub fn clang_command(src: &Path, out: &Path) -> Command {
    let mut cmd = Command::new("clang");
    cmd.args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"]);
    if let Some(inc) = multiarch_include() {
        cmd.arg("-I").arg(inc);
    }
    cmd.arg("-I").arg(c_dir());
    cmd.arg("-c").arg(src).arg("-o").arg(out);
    cmd
}

/// Compile `src` to `out` with `defines` (`NAME` or `NAME=VALUE`) added.
pub fn compile_c_with(src: &Path, out: &Path, defines: &[&str]) -> Result<(), String> {
    let mut cmd = clang_command(src, out);
    for d in defines {
        cmd.arg(format!("-D{d}"));
    }
    let o = cmd.output().map_err(|e| format!("cannot run clang: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "clang failed on {}:\n{}",
            src.display(),
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

/// Compile `src` to `out`.
pub fn compile_c(src: &Path, out: &Path) -> Result<(), String> {
    compile_c_with(src, out, &[])
}

/// Where [`compile_twin`] puts the object of `name` built with `defines`.
pub fn twin_object_path(name: &str, dir: &Path, defines: &[&str]) -> PathBuf {
    let suffix: String = defines
        .iter()
        .flat_map(|d| {
            std::iter::once('-').chain(
                d.chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
            )
        })
        .collect();
    dir.join(format!("{name}{suffix}.o"))
}

/// Compile `bench/c/<name>.c` into `dir`, returning the object bytes.
pub fn compile_twin(name: &str, dir: &Path, defines: &[&str]) -> Result<Vec<u8>, String> {
    let out = compile_twin_cpu(name, dir, defines, false)?;
    std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))
}

/// Compile `bench/c/<name>.c` into `dir` with `defines`, adding
/// `-mcpu=v3` when `v3`; the object's path.
pub fn compile_twin_cpu(
    name: &str,
    dir: &Path,
    defines: &[&str],
    v3: bool,
) -> Result<PathBuf, String> {
    let mut defs = defines.to_vec();
    if v3 {
        defs.push("NF_CPU_V3"); // names the object; no twin reads it
    }
    let src = c_dir().join(format!("{name}.c"));
    let out = twin_object_path(name, dir, &defs);
    let mut cmd = clang_command(&src, &out);
    if v3 {
        cmd.arg("-mcpu=v3");
    }
    cmd.args(defs.iter().map(|d| format!("-D{d}")));
    let o = cmd.output().map_err(|e| format!("cannot run clang: {e}"))?;
    if o.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "clang failed on {} {defs:?}:\n{}",
            src.display(),
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

/// The maps of a loaded program (nflc's or a C twin's) named `names`,
/// shaped as the nflc build's `schema` declares them.
pub fn named_maps(
    prog: &nfl_runtime::LoadedProgram,
    schema: &nfl_compiler::schema::Schema,
    names: &[&str],
) -> nfl_runtime::state::MapSet {
    let schema = nfl_compiler::schema::Schema {
        maps: schema
            .maps
            .iter()
            .filter(|m| names.contains(&m.name.as_str()))
            .cloned()
            .collect(),
        ..schema.clone()
    };
    assert_eq!(
        schema.maps.len(),
        names.len(),
        "the nflc build lacks one of {names:?}"
    );
    nfl_runtime::state::MapSet::from_loaded(prog, &schema)
        .unwrap_or_else(|e| panic!("maps {names:?} of {}: {e}", prog.name()))
}

/// Key 0 of the map `name` (all CPUs' values for a per-CPU map).
pub fn read_map_value(
    prog: &nfl_runtime::LoadedProgram,
    schema: &nfl_compiler::schema::Schema,
    name: &str,
) -> Vec<u8> {
    let set = named_maps(prog, schema, &[name]);
    let h = set.get(name).expect("asked for");
    nfl_runtime::mapops::lookup(h.fd(), h.shape, &0u32.to_ne_bytes())
        .unwrap_or_else(|e| panic!("read {name} of {}: {e}", prog.name()))
        .expect("an array has entry 0")
}

/// Write NitroSketch's pool (`nfl_compiler::schema::nitro_pool`, the
/// bytes nflc's loader writes) into a C twin's map `pool_map`, the way
/// `nfl_runtime::state::init_maps` fills nflc's.
pub fn write_nitro_pool(
    prog: &nfl_runtime::LoadedProgram,
    schema: &nfl_compiler::schema::Schema,
    pool_map: &str,
    sample_log2: u32,
) {
    let pool = nfl_compiler::schema::nitro_pool(sample_log2).expect("pool");
    let set = named_maps(prog, schema, &[pool_map]);
    let h = set.get(pool_map).expect("asked for");
    nfl_runtime::mapops::update(h.fd(), h.shape, &0u32.to_ne_bytes(), &pool.to_bytes(), 0)
        .unwrap_or_else(|e| panic!("write {pool_map} of {}: {e}", prog.name()));
}

// ---------------------------------------------------------------------------
// Packets. Addresses: IPv4 198.18.0.0/15 (RFC 2544 benchmarking) and IPv6
// 2001:2::/48 (RFC 5180 benchmarking) only.

pub const MAC_DST: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
pub const MAC_SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const ETH_P_IPV4: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_VLAN: u16 = 0x8100;
pub const ETH_P_QINQ: u16 = 0x88a8;
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_ACK: u8 = 0x10;

pub fn v4(a: u8, b: u8, c: u8, d: u8) -> [u8; 4] {
    [a, b, c, d]
}

/// 2001:2::`host` (the IPv6 benchmarking prefix).
pub fn v6(host: u16) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[0x20, 0x01, 0x00, 0x02]);
    a[14..].copy_from_slice(&host.to_be_bytes());
    a
}

/// An Ethernet header, then a VLAN tag per entry of `tags` (outer first, as
/// `(tpid, vid)`), then `ethertype`.
pub fn ethernet(tags: &[(u16, u16)], ethertype: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(64);
    p.extend_from_slice(&MAC_DST);
    p.extend_from_slice(&MAC_SRC);
    for &(tpid, _) in tags.iter().take(1) {
        p.extend_from_slice(&tpid.to_be_bytes());
    }
    for (i, &(_, vid)) in tags.iter().enumerate() {
        p.extend_from_slice(&vid.to_be_bytes());
        let next = tags.get(i + 1).map_or(ethertype, |t| t.0);
        p.extend_from_slice(&next.to_be_bytes());
    }
    if tags.is_empty() {
        p.extend_from_slice(&ethertype.to_be_bytes());
    }
    p
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in bytes.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Fields of an IPv4 header that the tests vary.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4 {
    pub version: u8,
    pub ihl: u8,
    pub ttl: u8,
    pub protocol: u8,
    /// Flags (3 bits) and fragment offset (13 bits), as on the wire.
    pub flags_frag: u16,
    pub src: [u8; 4],
    pub dst: [u8; 4],
}

impl Ipv4 {
    pub fn new(protocol: u8, src: [u8; 4], dst: [u8; 4]) -> Ipv4 {
        Ipv4 {
            version: 4,
            ihl: 5,
            ttl: 64,
            protocol,
            flags_frag: 0x4000,
            src,
            dst,
        }
    }

    /// The header (with `ihl * 4 - 20` bytes of NOP options) for `payload_len`
    /// bytes of payload.
    pub fn bytes(&self, payload_len: usize) -> Vec<u8> {
        let hlen = usize::from(self.ihl.max(5)) * 4;
        let total = (hlen + payload_len) as u16;
        let mut h = vec![(self.version << 4) | (self.ihl & 0x0f), 0];
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&0x1234u16.to_be_bytes());
        h.extend_from_slice(&self.flags_frag.to_be_bytes());
        h.extend_from_slice(&[self.ttl, self.protocol, 0, 0]);
        h.extend_from_slice(&self.src);
        h.extend_from_slice(&self.dst);
        h.resize(hlen, 0x01);
        let c = checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    }
}

pub fn ipv6_header(
    next_header: u8,
    hop_limit: u8,
    src: [u8; 16],
    dst: [u8; 16],
    payload_len: usize,
) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload_len as u16).to_be_bytes());
    h.extend_from_slice(&[next_header, hop_limit]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h
}

pub fn udp_header(sport: u16, dport: u16, payload_len: usize) -> Vec<u8> {
    let mut h = Vec::with_capacity(8);
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h
}

pub fn tcp_header(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let mut h = Vec::with_capacity(20);
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&1u32.to_be_bytes());
    h.extend_from_slice(&0u32.to_be_bytes());
    h.extend_from_slice(&[0x50, flags]);
    h.extend_from_slice(&0xffffu16.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0]);
    h
}

/// Ethernet (+ tags) / IPv4 / `l4` / `payload`.
pub fn ipv4_packet(tags: &[(u16, u16)], ip: Ipv4, l4: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut p = ethernet(tags, ETH_P_IPV4);
    p.extend_from_slice(&ip.bytes(l4.len() + payload.len()));
    p.extend_from_slice(l4);
    p.extend_from_slice(payload);
    p
}

/// Ethernet (+ tags) / IPv6 / `l4` / `payload`.
pub fn ipv6_packet(
    tags: &[(u16, u16)],
    next_header: u8,
    hop_limit: u8,
    l4: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut p = ethernet(tags, ETH_P_IPV6);
    p.extend_from_slice(&ipv6_header(
        next_header,
        hop_limit,
        v6(1),
        v6(2),
        l4.len() + payload.len(),
    ));
    p.extend_from_slice(l4);
    p.extend_from_slice(payload);
    p
}

/// A 27-byte DNS-like query payload (header and one question).
pub const DNS_PAYLOAD: &[u8] =
    b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03org\x00\x00\x01";

/// The packets the benchmark times, as `(name, packet, expected XDP verdict
/// of static_filter)`; parse_only passes them all.
pub fn bench_packets() -> Vec<(&'static str, Vec<u8>, u32)> {
    let (client, server) = (v4(198, 18, 0, 1), v4(198, 18, 0, 2));
    vec![
        (
            "udp4 dns",
            ipv4_packet(
                &[],
                Ipv4::new(IPPROTO_UDP, client, server),
                &udp_header(40000, 53, DNS_PAYLOAD.len()),
                DNS_PAYLOAD,
            ),
            2,
        ),
        (
            "tcp4 syn",
            ipv4_packet(
                &[],
                Ipv4::new(IPPROTO_TCP, client, server),
                &tcp_header(40000, 80, TCP_SYN),
                &[],
            ),
            2,
        ),
        (
            "udp6",
            ipv6_packet(
                &[],
                IPPROTO_UDP,
                64,
                &udp_header(40000, 53, DNS_PAYLOAD.len()),
                DNS_PAYLOAD,
            ),
            2,
        ),
        (
            "qinq tcp4",
            ipv4_packet(
                &[(ETH_P_QINQ, 100), (ETH_P_VLAN, 200)],
                Ipv4::new(IPPROTO_TCP, client, server),
                &tcp_header(40000, 443, TCP_ACK),
                &[],
            ),
            2,
        ),
        (
            "udp4 game (drop)",
            ipv4_packet(
                &[],
                Ipv4::new(IPPROTO_UDP, client, server),
                &udp_header(40000, 27010, 8),
                &[0; 8],
            ),
            1,
        ),
    ]
}
