//! The firewall and router with tables and config (Run 6), shared by the
//! benchmark (`bench/tables_bench.rs`), `tests/c_twins.rs` and
//! `tests/scale_firewall.rs`:
//! - building the `.nf` programs of `bench/nf/` with their YAML;
//! - the C twins' inputs: `fw_rules.h` / `rt_routes.h` generated from the
//!   rules nflc compiled (the schema's entries), so both sides always hold
//!   the same rules, and the contents of the C twins' maps;
//! - writing the maps of a loaded program (nflc: `init_maps` plus the
//!   `knobs` map of the unspecialized programs; C: its own maps);
//! - the packets.
//!
//! Needs `mod common;` and `mod fwgen;` next to it.
#![allow(dead_code)]

use std::path::Path;

use nfl_compiler::driver::{self, Build};
use nfl_compiler::hir::KeyMatch;
use nfl_compiler::schema::{EntrySchema, MapSchema, Schema};
use nfl_runtime::LoadedProgram;
use nfl_runtime::mapops::{self, MapShape};
use nfl_runtime::state::MapSet;

use crate::common::*;
use crate::fwgen::{ANY_PORT, FiveTuple, FwRule};

pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;
pub const XDP_REDIRECT: u32 = 4;

/// `bench/nf/<file>`, as text.
pub fn nf_text(file: &str) -> String {
    let path = root().join("bench/nf").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Build `.nf` text with a config file, or panic with the diagnostics.
pub fn build_nf_config(name: &str, text: &str, yaml_name: &str, yaml: &str) -> Build {
    match driver::build_with(name, text, &mut StdOnly, Some((yaml_name, yaml))) {
        Ok(b) => b,
        Err(f) => panic!(
            "{name} with {yaml_name} does not compile:\n{}",
            nfl_syntax::diag::render_all(&f.diagnostics, &f.sources, false)
        ),
    }
}

/// Build `bench/nf/<stem>.nf` with `bench/nf/<stem>.yaml`.
pub fn build_bench_nf(stem: &str) -> Build {
    let yaml_name = format!("{stem}.yaml");
    build_nf_config(
        &format!("{stem}.nf"),
        &nf_text(&format!("{stem}.nf")),
        &yaml_name,
        &nf_text(&yaml_name),
    )
}

// ---------------------------------------------------------------------------
// Rules of the compiled programs.

fn ones(w: u32) -> u128 {
    if w >= 128 {
        u128::MAX
    } else {
        (1u128 << w) - 1
    }
}

/// A key match as a ternary `(value, mask)` on `width` bits.
fn ternary(m: &KeyMatch, width: u32) -> (u128, u128) {
    match *m {
        KeyMatch::Any => (0, 0),
        KeyMatch::Exact(v) => (v, ones(width)),
        KeyMatch::Prefix { value, len } => {
            let mask = ones(width) & !ones(width - len.min(width));
            (value & mask, mask)
        }
        KeyMatch::Ternary { value, mask } => (value & mask, mask),
        KeyMatch::Range { .. } => panic!("a range on a ternary key"),
    }
}

/// A key match as an inclusive range on 16 bits.
fn range16(m: &KeyMatch) -> (u16, u16) {
    match *m {
        KeyMatch::Any => ANY_PORT,
        KeyMatch::Exact(v) => (v as u16, v as u16),
        KeyMatch::Range { lo, hi } => (lo as u16, hi as u16),
        ref other => panic!("{other:?} on a range key"),
    }
}

/// The `acl` entries of a firewall build, in priority order (first =
/// highest), with the key order of bench/nf/firewall*.nf.
pub fn fw_rules_of(schema: &Schema) -> Vec<FwRule> {
    let mut entries: Vec<&EntrySchema> =
        schema.entries.iter().filter(|e| e.table == "acl").collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.prio));
    entries
        .iter()
        .map(|e| {
            let [src, dst, proto, sport, dport] = &e.matches[..] else {
                panic!("acl entry with {} keys", e.matches.len())
            };
            let (s, sm) = ternary(src, 32);
            let (d, dm) = ternary(dst, 32);
            let (p, pm) = ternary(proto, 8);
            FwRule {
                src: (s as u32, sm as u32),
                dst: (d as u32, dm as u32),
                proto: (p as u8, pm as u8),
                sport: range16(sport),
                dport: range16(dport),
                deny: match e.action.as_str() {
                    "deny" => true,
                    "allow" => false,
                    a => panic!("unknown acl action {a}"),
                },
            }
        })
        .collect()
}

/// One route: prefix (host order), length, next hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub net: u32,
    pub len: u32,
    pub ifindex: u32,
    pub mac: u64,
}

/// The `routes` entries of a router build, longest prefix first.
pub fn routes_of(schema: &Schema) -> Vec<Route> {
    let mut routes: Vec<Route> = schema
        .entries
        .iter()
        .filter(|e| e.table == "routes")
        .map(|e| {
            let (net, len) = match e.matches[..] {
                [KeyMatch::Prefix { value, len }] => (value as u32, len),
                [KeyMatch::Exact(v)] => (v as u32, 32),
                ref m => panic!("route match {m:?}"),
            };
            assert_eq!(e.action, "fwd");
            Route {
                net,
                len,
                ifindex: e.args[0] as u32,
                mac: e.args[1],
            }
        })
        .collect();
    routes.sort_by_key(|r| std::cmp::Reverse(r.len));
    routes
}

/// A config value compiled into a build (`config.NAME`), as the schema
/// prints it.
pub fn config_value(schema: &Schema, name: &str) -> u64 {
    let text = &schema
        .config
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no config value {name}"))
        .1;
    let t = text.trim();
    match t {
        "true" => 1,
        "false" => 0,
        _ => t
            .strip_prefix("0x")
            .map(|h| u64::from_str_radix(h, 16))
            .unwrap_or_else(|| t.parse())
            .unwrap_or_else(|e| panic!("config {name} = {t}: {e}")),
    }
}

// ---------------------------------------------------------------------------
// The C twins' inputs.

/// `fw_rules.h` for `firewall.c -DFW_STATIC`.
pub fn fw_header(rules: &[FwRule], drop_fragments: bool) -> String {
    let mut s = format!(
        "#define FW_DROP_FRAGMENTS {}\n#define FW_RULES \\\n",
        u32::from(drop_fragments)
    );
    for r in rules {
        s.push_str(&format!(
            "\t{{bpf_htonl({:#x}), bpf_htonl({:#x}), bpf_htonl({:#x}), bpf_htonl({:#x}), {}, {}, {}, {}, {}, {:#x}, {}, 0}}, \\\n",
            r.src.0,
            r.src.1,
            r.dst.0,
            r.dst.1,
            r.sport.0,
            r.sport.1,
            r.dport.0,
            r.dport.1,
            r.proto.0,
            r.proto.1,
            if r.deny { "FW_DENY" } else { "FW_ALLOW" }
        ));
    }
    s.push('\n');
    s
}

/// `struct fw_rule` of firewall.c, as the bytes of a map value.
pub fn fw_rule_bytes(r: &FwRule) -> Vec<u8> {
    let mut v = Vec::with_capacity(28);
    for a in [r.src.0, r.src.1, r.dst.0, r.dst.1] {
        v.extend_from_slice(&a.to_be_bytes());
    }
    for p in [r.sport.0, r.sport.1, r.dport.0, r.dport.1] {
        v.extend_from_slice(&p.to_ne_bytes());
    }
    v.extend_from_slice(&[r.proto.0, r.proto.1, u8::from(r.deny), 0]);
    v
}

fn mac_bytes(mac: u64) -> [u8; 6] {
    let b = mac.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

fn c_bytes(b: &[u8]) -> String {
    let items: Vec<String> = b.iter().map(|x| format!("{x:#04x}")).collect();
    format!("{{{}}}", items.join(", "))
}

/// `rt_routes.h` for `router.c -DRT_STATIC`.
pub fn rt_header(routes: &[Route], router_mac: u64) -> String {
    let mut s = format!(
        "#define RT_ROUTER_MAC {}\n#define RT_ROUTES \\\n",
        c_bytes(&mac_bytes(router_mac))
    );
    for r in routes {
        let mask = if r.len == 0 {
            0
        } else {
            u32::MAX << (32 - r.len)
        };
        s.push_str(&format!(
            "\t{{{:#010x}, {mask:#010x}, {{{}, {}, 0}}}}, \\\n",
            r.net & mask,
            r.ifindex,
            c_bytes(&mac_bytes(r.mac))
        ));
    }
    s.push('\n');
    s
}

/// Compile `bench/c/<name>.c` with `defines`, with `headers` (file name,
/// text) written next to the object and on the include path.
pub fn compile_twin_with(
    name: &str,
    dir: &Path,
    defines: &[&str],
    headers: &[(&str, String)],
) -> Result<Vec<u8>, String> {
    for (file, text) in headers {
        std::fs::write(dir.join(file), text).map_err(|e| format!("{file}: {e}"))?;
    }
    let src = c_dir().join(format!("{name}.c"));
    let out = twin_object_path(name, dir, defines);
    let mut cmd = clang_command(&src, &out);
    cmd.arg("-I").arg(dir);
    for d in defines {
        cmd.arg(format!("-D{d}"));
    }
    let o = cmd.output().map_err(|e| format!("cannot run clang: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "clang failed on {}:\n{}",
            src.display(),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))
}

// ---------------------------------------------------------------------------
// Maps of loaded programs.

fn map_schema(
    name: &str,
    kind: &str,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
) -> MapSchema {
    MapSchema {
        name: name.into(),
        kind: kind.into(),
        key_size,
        value_size,
        max_entries,
        flags: 0,
    }
}

/// The maps of a C twin, by name, through a schema written by hand.
fn c_maps(prog: &LoadedProgram, maps: Vec<MapSchema>) -> MapSet {
    // Any program's schema, with these maps: only the maps are read.
    let blank = build_nf("blank.nf", "control blank(xdp) { pass }").schema;
    let schema = Schema {
        program: prog.name().to_string(),
        maps,
        ..blank
    };
    MapSet::from_loaded(prog, &schema)
        .unwrap_or_else(|e| panic!("maps of C twin {}: {e}", prog.name()))
}

fn put(set: &MapSet, map: &str, key: &[u8], value: &[u8]) {
    let h = set.get(map).unwrap_or_else(|e| panic!("{e}"));
    mapops::update_all_cpus(h.fd(), h.shape, key, value)
        .unwrap_or_else(|e| panic!("write {map}: {e}"));
}

/// Fill firewall.c's maps (not for -DFW_STATIC): the rules and the config.
pub fn fill_fw_c(prog: &LoadedProgram, rules: &[FwRule], drop_fragments: bool, max_rules: u32) {
    assert!(
        rules.len() <= max_rules as usize,
        "{} rules, room for {max_rules}",
        rules.len()
    );
    let set = c_maps(
        prog,
        vec![
            map_schema("fw_rules", "array", 4, 28, max_rules),
            map_schema("fw_conf", "array", 4, 8, 1),
        ],
    );
    for (i, r) in rules.iter().enumerate() {
        put(
            &set,
            "fw_rules",
            &(i as u32).to_ne_bytes(),
            &fw_rule_bytes(r),
        );
    }
    let mut conf = (rules.len() as u32).to_ne_bytes().to_vec();
    conf.extend_from_slice(&u32::from(drop_fragments).to_ne_bytes());
    put(&set, "fw_conf", &0u32.to_ne_bytes(), &conf);
}

/// The mask bound of the tuple-space table `table` of a build (its masks
/// map holds `8 + bound * (8 + 8 * fields)` bytes).
pub fn tss_bound(schema: &Schema, table: &str) -> u32 {
    let t = schema
        .table(table)
        .unwrap_or_else(|| panic!("no table {table}"));
    let masks = schema
        .map(t.masks_map.as_deref().expect("a tuple-space table"))
        .expect("masks map");
    (masks.value_size - 8) / (8 + 8 * t.slots.len() as u32)
}

/// The defines of `firewall.c -DFW_TSS` for a build's `acl` table
/// (firewall.nf or firewall_dyn.nf; with TSS_TAG for firewall_tagged.nf).
pub fn tss_defines(schema: &Schema) -> Vec<String> {
    let mut d = vec![
        "FW_TSS".into(),
        format!("TSS_MAX_MASKS={}", tss_bound(schema, "acl")),
    ];
    let t = schema.table("acl").expect("an acl table");
    if t.actions.iter().any(|a| !a.params.is_empty()) {
        let tag = &t.actions[0].params[0];
        assert_eq!(
            (tag.off, tag.bytes, t.value_size),
            (8, 2, 16),
            "firewall_tagged.nf's value layout"
        );
        d.push("TSS_TAG".into());
    }
    d
}

/// Fill `firewall.c -DFW_TSS`'s maps with the images the nflc `build`
/// computed for its `acl` table, and the flag.
pub fn fill_tss_c(prog: &LoadedProgram, build: &Build, drop_fragments: bool) {
    let tss_maps = ["acl_rules", "acl_masks"];
    let mut maps: Vec<MapSchema> = build
        .schema
        .maps
        .iter()
        .filter(|m| tss_maps.contains(&m.name.as_str()))
        .cloned()
        .collect();
    assert_eq!(maps.len(), 2, "the build has no tuple-space `acl` table");
    maps.push(map_schema("fw_conf", "array", 4, 8, 1));
    let set = c_maps(prog, maps);
    for init in build
        .schema
        .initial
        .iter()
        .filter(|i| tss_maps.contains(&i.map.as_str()))
    {
        for (k, v) in &init.entries {
            put(&set, &init.map, k, v);
        }
    }
    let mut conf = 0u32.to_ne_bytes().to_vec();
    conf.extend_from_slice(&u32::from(drop_fragments).to_ne_bytes());
    put(&set, "fw_conf", &0u32.to_ne_bytes(), &conf);
}

/// Fill router.c's maps (not for -DRT_STATIC): the routes and the MAC.
pub fn fill_rt_c(prog: &LoadedProgram, routes: &[Route], router_mac: u64) {
    // (`rt_conf` is a hash map with -DRT_CONF_HASH; writing it is the same.)
    let set = c_maps(
        prog,
        vec![
            map_schema("rt_routes", "lpm_trie", 8, 12, 1024),
            map_schema("rt_conf", "array", 4, 8, 1),
        ],
    );
    for r in routes {
        let mut key = r.len.to_ne_bytes().to_vec();
        key.extend_from_slice(&r.net.to_be_bytes());
        let mut value = r.ifindex.to_ne_bytes().to_vec();
        value.extend_from_slice(&mac_bytes(r.mac));
        value.extend_from_slice(&[0, 0]);
        put(&set, "rt_routes", &key, &value);
    }
    let mut conf = mac_bytes(router_mac).to_vec();
    conf.extend_from_slice(&[0, 0]);
    put(&set, "rt_conf", &0u32.to_ne_bytes(), &conf);
}

/// Write the build's initial entries into a program just loaded from it,
/// and `knobs[0] = knob` when the program has a `knobs` map.
pub fn fill_nf(prog: &LoadedProgram, build: &Build, knob: Option<u64>) {
    nfl_runtime::state::init_maps(prog, &build.object).unwrap_or_else(|e| panic!("init_maps: {e}"));
    if let Some(v) = knob {
        let set = MapSet::from_loaded(prog, &build.schema).unwrap_or_else(|e| panic!("{e}"));
        put(&set, "knobs", &0u32.to_ne_bytes(), &v.to_ne_bytes());
    }
}

/// `{packets, bytes}` of index `i` of a per-CPU stats array, summed over
/// CPUs.
pub fn stats(prog: &LoadedProgram, map: &str, i: u32) -> (u64, u64) {
    let set = c_maps(prog, vec![map_schema(map, "percpu_array", 4, 16, 2)]);
    let h = set.get(map).unwrap_or_else(|e| panic!("{e}"));
    let v = mapops::lookup(h.fd(), h.shape, &i.to_ne_bytes())
        .unwrap_or_else(|e| panic!("{map}: {e}"))
        .unwrap_or_default();
    (
        mapops::sum_per_cpu_u64(h.shape, &v, 0),
        mapops::sum_per_cpu_u64(h.shape, &v, 8),
    )
}

/// The shape of a per-CPU array of `{u64, u64}`, for callers that read
/// stats without a program handle.
pub fn stats_shape() -> MapShape {
    MapShape {
        key_size: 4,
        value_size: 16,
        per_cpu: true,
    }
}

// ---------------------------------------------------------------------------
// Packets.

/// Ethernet / IPv4 / (TCP | UDP | ICMP | 8 bytes) for a five-tuple.
pub fn tuple_packet(k: &FiveTuple) -> Vec<u8> {
    let ip = Ipv4::new(k.proto, k.src.to_be_bytes(), k.dst.to_be_bytes());
    match k.proto {
        IPPROTO_TCP => ipv4_packet(&[], ip, &tcp_header(k.sport, k.dport, TCP_ACK), &[]),
        IPPROTO_UDP => ipv4_packet(&[], ip, &udp_header(k.sport, k.dport, 8), &[0; 8]),
        IPPROTO_ICMP => ipv4_packet(&[], ip, &[8, 0, 0, 0], &[0; 8]),
        _ => ipv4_packet(&[], ip, &[], &[0; 8]),
    }
}

fn a(s: &str) -> u32 {
    let p: Vec<u32> = s.split('.').map(|x| x.parse().expect("octet")).collect();
    (p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]
}

fn tcp(src: &str, dst: &str, sport: u16, dport: u16) -> FiveTuple {
    FiveTuple {
        src: a(src),
        dst: a(dst),
        proto: IPPROTO_TCP,
        sport,
        dport,
    }
}

fn udp(src: &str, dst: &str, sport: u16, dport: u16) -> FiveTuple {
    FiveTuple {
        src: a(src),
        dst: a(dst),
        proto: IPPROTO_UDP,
        sport,
        dport,
    }
}

/// The firewall's timed packets: (name, five-tuple). Which rule of
/// bench/nf/firewall.yaml each meets is in the name.
pub fn fw_bench_tuples() -> Vec<(&'static str, FiveTuple)> {
    vec![
        (
            "tcp ssh admin (rule 1 allow)",
            tcp("198.18.0.5", "198.18.1.10", 40000, 22),
        ),
        (
            "tcp ssh other (rule 2 deny)",
            tcp("198.19.3.4", "198.18.1.10", 40000, 22),
        ),
        (
            "udp game (rule 3 deny)",
            udp("198.18.0.9", "198.18.1.10", 40000, 27010),
        ),
        (
            "udp dns reply (rule 4 allow)",
            udp("198.18.1.53", "198.18.0.9", 53, 40000),
        ),
        (
            "tcp web (no match, allow)",
            tcp("198.18.0.1", "198.18.1.10", 40000, 443),
        ),
    ]
}

/// The router's timed packets: (name, packet).
pub fn rt_bench_packets() -> Vec<(&'static str, Vec<u8>)> {
    let pkt = |dst: &str| {
        // TTL 255: the benchmark runs each packet up to 250 times in a row
        // on its own output, and every run must forward it.
        let ip = Ipv4 {
            ttl: 255,
            ..Ipv4::new(IPPROTO_UDP, v4(198, 18, 0, 1), a(dst).to_be_bytes())
        };
        ipv4_packet(
            &[],
            ip,
            &udp_header(40000, 53, DNS_PAYLOAD.len()),
            DNS_PAYLOAD,
        )
    };
    vec![
        ("to /24 (port 2)", pkt("198.18.1.10")),
        ("to /17 (port 6)", pkt("198.18.200.1")),
        ("to /16 (port 4)", pkt("198.18.100.1")),
        ("to /17 (port 5), last", pkt("198.19.5.5")),
        ("no route (pass)", pkt("198.19.200.1")),
    ]
}
