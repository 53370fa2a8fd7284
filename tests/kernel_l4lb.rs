//! `examples/l4lb.nf` in the kernel (BPF_PROG_TEST_RUN): the IPIP, GUE and
//! IPv6-in-IPv4 output is byte for byte what a reference encapsulation
//! builds; Maglev spreads 100,000 flows within 5% over 10 backends;
//! removing a backend moves at most a tenth of the flows plus 2%, and with
//! the connection table kept, only the removed backend's flows move.

mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use common::*;
use nfl_compiler::maglev;

const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
const NEXT_HOP: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
const LB_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const SELF: u32 = 0xc612_0001; // 198.18.0.1
const VIP: u32 = 0xc612_000a; // 198.18.0.10

/// The example with its YAML, or with `yaml` instead (written next to a
/// copy of the source).
fn build(yaml: Option<&str>) -> nfl_compiler::driver::Build {
    let src = root().join("examples/l4lb.nf");
    let Some(yaml) = yaml else { return build_ok(&src) };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&src, dir.path().join("l4lb.nf")).expect("copy");
    std::fs::write(dir.path().join("l4lb.yaml"), yaml).expect("yaml");
    build_ok(&dir.path().join("l4lb.nf"))
}

/// A config with one VIP (198.18.0.10, TCP 80) over `members`.
fn config(members: &[u32], gue: bool) -> String {
    let list: Vec<String> = members.iter().map(|m| Ipv4Addr::from(*m).to_string()).collect();
    format!(
        "gue: {gue}\ntables:\n  vips:\n    - match: {{ ipv4.dst: 198.18.0.10, ipv4.protocol: 6, meta.dport: 80 }}\n      action: to_group\n      args: [0]\npools:\n  backends:\n    - [{}]\n",
        list.join(", ")
    )
}

/// Load, sharing the connection table through `conns_pin` when given.
fn load(build: &nfl_compiler::driver::Build, conns_pin: Option<&Path>) -> nfl_runtime::LoadedProgram {
    let pins = nfl_runtime::load::MapPins { default_dir: None, by_name: conns_pin.map(|p| vec![("conns", p.to_path_buf())]).unwrap_or_default() };
    let ebpf = nfl_runtime::load::create_maps(&build.object, &pins).expect("maps");
    let prog = nfl_runtime::load::load_program(ebpf, Some("l4lb")).expect("load");
    nfl_runtime::state::init_maps(&prog, &build.object).expect("fill the tables and the Maglev table");
    prog
}

/// A client's TCP SYN to the VIP.
fn syn(src: u32, sport: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&LB_MAC);
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let mut ip = vec![0x45, 0, 0, 40, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0];
    ip.extend_from_slice(&src.to_be_bytes());
    ip.extend_from_slice(&VIP.to_be_bytes());
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&80u16.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    f
}

/// What the balancer must send: Ethernet to the next hop, an outer IPv4
/// header (and UDP + GUE with `gue`), then the client's IP packet as it was.
fn encapsulated(frame: &[u8], backend: u32, proto: u8, gue: Option<u16>) -> Vec<u8> {
    let inner = &frame[14..];
    let extra = if gue.is_some() { 32 } else { 20 };
    let mut out = Vec::new();
    out.extend_from_slice(&NEXT_HOP);
    out.extend_from_slice(&frame[0..6]);
    out.extend_from_slice(&[0x08, 0x00]);
    let total = (inner.len() + extra) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0, 0, 64, if gue.is_some() { 17 } else { proto }, 0, 0]);
    ip.extend_from_slice(&SELF.to_be_bytes());
    ip.extend_from_slice(&backend.to_be_bytes());
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    out.extend_from_slice(&ip);
    if let Some(sport) = gue {
        out.extend_from_slice(&sport.to_be_bytes());
        out.extend_from_slice(&6080u16.to_be_bytes());
        out.extend_from_slice(&((inner.len() + 12) as u16).to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, proto, 0, 0]);
    }
    out.extend_from_slice(inner);
    out
}

/// The connection key as the program lays it out (u32, u32, u16, u16, u8).
fn flow_key(src: u32, dst: u32, sport: u16, dport: u16, proto: u8) -> Vec<u8> {
    let mut k = Vec::new();
    k.extend_from_slice(&src.to_le_bytes());
    k.extend_from_slice(&dst.to_le_bytes());
    k.extend_from_slice(&sport.to_le_bytes());
    k.extend_from_slice(&dport.to_le_bytes());
    k.push(proto);
    k.resize(16, 0);
    k
}

/// The backend nflc's Maglev table gives each flow `(src, sport)` to the
/// TCP VIP (the table built once).
fn expected_backends(members: &[u32]) -> impl Fn(u32, u16) -> u32 {
    let m: Vec<u64> = members.iter().map(|&b| u64::from(b)).collect();
    let (sorted, table) = maglev::table(&m, maglev::DEFAULT_SLOTS);
    move |src, sport| {
        let slot = maglev::slot_of(&flow_key(src, VIP, sport, 80, 6), maglev::DEFAULT_SLOTS);
        sorted[table[slot as usize] as usize] as u32
    }
}

fn backends(n: u32) -> Vec<u32> {
    (1..=n).map(|i| 0xc612_0100 + i).collect()
}

#[test]
fn ipip_and_gue_output_is_exact() {
    if !nfl_runtime::require_kernel("ipip_and_gue_output_is_exact") {
        return;
    }
    let members = backends(4);
    let expected = expected_backends(&members);
    for gue in [false, true] {
        let build = build(Some(&config(&members, gue)));
        let prog = load(&build, None);
        for (src, sport) in [(0xc613_0001u32, 40000u16), (0xc613_0002, 12345), (0xc613_00ff, 1024)] {
            let frame = syn(src, sport);
            let r = nfl_runtime::test_run(prog.fd(), &frame, 1).expect("run");
            assert_eq!(r.retval, XDP_TX, "gue {gue}");
            let backend = expected(src, sport);
            let gue_port = gue.then_some((sport ^ 80) | 0x8000);
            assert_eq!(r.data_out, encapsulated(&frame, backend, 4, gue_port), "gue {gue}, flow {src:#x}:{sport}");
        }
        // Not for a VIP: passes untouched.
        let mut other = syn(0xc613_0001, 40000);
        other[37] = 81;
        let r = nfl_runtime::test_run(prog.fd(), &other, 1).expect("run");
        assert_eq!((r.retval, r.data_out), (XDP_PASS, other));
    }
}

#[test]
fn ipv6_vip_is_carried_in_ipv4() {
    if !nfl_runtime::require_kernel("ipv6_vip_is_carried_in_ipv4") {
        return;
    }
    let build = build(None);
    let prog = load(&build, None);
    // 2001:db8::1 -> 2001:db8::10, TCP 40000 -> 443.
    let (src, dst) = (0x2001_0db8_0000_0000_0000_0000_0000_0001u128, 0x2001_0db8_0000_0000_0000_0000_0000_0010u128);
    let mut frame = Vec::new();
    frame.extend_from_slice(&LB_MAC);
    frame.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x86, 0xdd, 0x60, 0, 0, 0, 0, 20, 6, 64]);
    frame.extend_from_slice(&src.to_be_bytes());
    frame.extend_from_slice(&dst.to_be_bytes());
    frame.extend_from_slice(&40000u16.to_be_bytes());
    frame.extend_from_slice(&443u16.to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    let r = nfl_runtime::test_run(prog.fd(), &frame, 1).expect("run");
    assert_eq!(r.retval, XDP_TX);
    let fold = |a: u128| ((a >> 64) as u64) ^ (a as u64);
    let mut key = Vec::new();
    key.extend_from_slice(&fold(src).to_le_bytes());
    key.extend_from_slice(&fold(dst).to_le_bytes());
    key.extend_from_slice(&40000u16.to_le_bytes());
    key.extend_from_slice(&443u16.to_le_bytes());
    key.push(6);
    key.resize(24, 0);
    let group2 = [0xc612_0301u64, 0xc612_0302];
    let backend = maglev::pick(&group2, maglev::DEFAULT_SLOTS, &key).expect("member") as u32;
    assert_eq!(r.data_out, encapsulated(&frame, backend, 41, None));
}

/// A pinned connection table two loads share, removed on drop.
struct Pin(PathBuf);

impl Drop for Pin {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn flows(n: usize) -> Vec<(u32, u16)> {
    let mut rng = kfunc_lib::XorShift64Star::new(0x6c34_6c62);
    (0..n).map(|_| {
        let r = rng.next_u64();
        (0xc613_0000 | (r as u32 & 0xffff), (r >> 32) as u16 | 1024)
    }).collect()
}

fn run_flows(prog: &nfl_runtime::LoadedProgram, flows: &[(u32, u16)]) -> Vec<u32> {
    flows
        .iter()
        .map(|&(src, sport)| {
            let r = nfl_runtime::test_run(prog.fd(), &syn(src, sport), 1).expect("run");
            assert_eq!(r.retval, XDP_TX);
            u32::from_be_bytes(r.data_out[30..34].try_into().expect("outer dst"))
        })
        .collect()
}

#[test]
fn maglev_spreads_and_tracked_flows_stay() {
    if !nfl_runtime::require_kernel("maglev_spreads_and_tracked_flows_stay") {
        return;
    }
    nfl_runtime::ensure_bpffs().expect("bpffs");
    let dir = PathBuf::from(format!("/sys/fs/bpf/nfl-test-l4lb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("pin dir");
    let pin = Pin(dir.join("conns"));
    let all = backends(10);
    let flows = flows(100_000);
    let before = run_flows(&load(&build(Some(&config(&all, false))), Some(&pin.0)), &flows);
    for b in &all {
        let n = before.iter().filter(|x| *x == b).count();
        assert!((9_500..=10_500).contains(&n), "backend {b:#x}: {n} of 100,000 flows");
    }
    let expected = expected_backends(&all);
    for (&(src, sport), got) in flows.iter().zip(&before) {
        assert_eq!(*got, expected(src, sport));
    }
    let gone = all[3];
    let fewer: Vec<u32> = all.iter().copied().filter(|&b| b != gone).collect();
    let removed = build(Some(&config(&fewer, false)));
    // Without the connection table: Maglev alone moves at most 1/10 + 2%.
    let fresh = run_flows(&load(&removed, None), &flows);
    let moved = before.iter().zip(&fresh).filter(|(a, b)| a != b).count();
    assert!(moved <= 12_000, "{moved} flows moved without connection tracking");
    // With it (the table kept, as `nflc reload` keeps it): only the removed
    // backend's flows move, each to where Maglev now sends it.
    let tracked = run_flows(&load(&removed, Some(&pin.0)), &flows);
    for (i, (a, b)) in before.iter().zip(&tracked).enumerate() {
        if *a == gone {
            assert_eq!(*b, fresh[i], "a flow of the removed backend is re-picked");
        } else {
            assert_eq!(a, b, "tracked flow {i} moved");
        }
    }
    let orphans = before.iter().filter(|b| **b == gone).count();
    eprintln!("l4lb: {moved} of 100,000 flows move untracked, {orphans} (the removed backend's) tracked");
}

/// The balancer with its encapsulation in a stage of its own (`stage { }`,
/// one tail call per packet) sends the same bytes as the whole program.
#[test]
fn a_staged_l4lb_sends_the_same_bytes() {
    if !nfl_runtime::require_kernel("a_staged_l4lb_sends_the_same_bytes") {
        return;
    }
    let text = std::fs::read_to_string(root().join("examples/l4lb.nf")).expect("read");
    let at = text.find("    // Encapsulate towards the backend").expect("encapsulation comment");
    let end = text.rfind("\n}").expect("closing brace");
    let staged_text = format!("{}    stage {{\n{}\n    }}\n}}\n", &text[..at], &text[at..end]);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("l4lb.nf"), staged_text).expect("write");
    std::fs::copy(root().join("examples/l4lb.yaml"), dir.path().join("l4lb.yaml")).expect("yaml");
    let staged = build_ok(&dir.path().join("l4lb.nf"));
    assert_eq!(staged.plan.as_ref().map(|p| p.len()), Some(2), "two stages");
    let (whole, split) = (load(&build(None), None), load(&staged, None));
    for (src, sport) in flows(2_000) {
        let f = syn(src, sport);
        let (a, b) = (nfl_runtime::test_run(whole.fd(), &f, 1).expect("run"), nfl_runtime::test_run(split.fd(), &f, 1).expect("run"));
        assert_eq!((a.retval, a.data_out), (b.retval, b.data_out), "flow {src:#x}:{sport}");
    }
}
