//! Header push/pop, encapsulation, decapsulation and checksums in the
//! kernel: each program goes through the verifier and BPF_PROG_TEST_RUN,
//! and its output frame is compared byte for byte with one built here,
//! independently, with a plain reference checksum.

mod common;

use common::*;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
const TC_ACT_SHOT: u32 = 2;
const TC_ACT_REDIRECT: u32 = 7;

const MAC: [u8; 12] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];

/// The Internet checksum of `bytes` (RFC 1071), the plain way.
fn csum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        let hi = u32::from(pair[0]) << 8;
        let lo = pair.get(1).map_or(0, |b| u32::from(*b));
        sum += hi | lo;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A 20-byte IPv4 header with a correct checksum.
fn ipv4(proto: u8, ttl: u8, src: [u8; 4], dst: [u8; 4], payload_len: usize) -> Vec<u8> {
    let total = (20 + payload_len) as u16;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0, 7, 0x40, 0, ttl, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// TCP or UDP checksum over the IPv4 pseudo-header and `segment`.
fn l4_csum(src: [u8; 4], dst: [u8; 4], proto: u8, segment: &[u8]) -> u16 {
    let mut buf = Vec::new();
    buf.extend_from_slice(&src);
    buf.extend_from_slice(&dst);
    buf.extend_from_slice(&[0, proto]);
    buf.extend_from_slice(&(segment.len() as u16).to_be_bytes());
    buf.extend_from_slice(segment);
    csum(&buf)
}

/// A TCP segment (20-byte header, then `data`) with a correct checksum.
fn tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0x20, 0, 0, 0, 0, 0]);
    s.extend_from_slice(data);
    let c = l4_csum(src, dst, 6, &s);
    s[16..18].copy_from_slice(&c.to_be_bytes());
    s
}

/// A UDP datagram with a correct checksum.
fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    s.extend_from_slice(&[0, 0]);
    s.extend_from_slice(data);
    let c = l4_csum(src, dst, 17, &s);
    s[6..8].copy_from_slice(&c.to_be_bytes());
    s
}

/// Ethernet (with VLAN tags `vids`) around an IPv4 packet.
fn frame(vids: &[u16], ip_packet: &[u8]) -> Vec<u8> {
    let mut f = MAC.to_vec();
    for vid in vids {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(ip_packet);
    f
}

const SRC: [u8; 4] = [198, 18, 0, 1];
const DST: [u8; 4] = [198, 18, 0, 2];

/// An inner IPv4/TCP packet.
fn inner_tcp() -> Vec<u8> {
    let seg = tcp(SRC, DST, 40000, 80, b"hello, world");
    let mut p = ipv4(6, 64, SRC, DST, seg.len());
    p.extend_from_slice(&seg);
    p
}

fn build(name: &str, text: &str) -> nfl_compiler::driver::Build {
    nfl_compiler::driver::build(name, text, &mut DirLoader(root()))
        .unwrap_or_else(|f| panic!("{}", nfl_syntax::diag::render_all(&f.diagnostics, &f.sources, false)))
}

fn load(text: &str, prog: &str) -> nfl_runtime::LoadedProgram {
    let b = build(&format!("{prog}.nf"), text);
    nfl_runtime::load(&b.object, Some(prog)).unwrap_or_else(|e| panic!("{prog} rejected: {e}"))
}

fn run(prog: &nfl_runtime::LoadedProgram, pkt: &[u8]) -> (u32, Vec<u8>) {
    let r = nfl_runtime::test_run(prog.fd(), pkt, 1).expect("test run");
    (r.retval, r.data_out)
}

const OUTER_IPV4: &str = "header outer_ipv4 {
    version: u4
    ihl: u4
    dscp: u6
    ecn: u2
    total_len: u16
    id: u16
    flags: u3
    frag_offset: u13
    ttl: u8
    protocol: u8
    checksum: u16
    src: u32
    dst: u32
}
";

/// IPv4-in-IPv4: the outer header between Ethernet (and its tags) and the
/// original IPv4 header.
fn ipip_program(hook: &str) -> String {
    format!(
        "import std.net\n{OUTER_IPV4}
control ipip({hook}) {{
    if !ipv4.valid {{ pass }}
    outer_ipv4.set_valid()
    outer_ipv4.version = 4
    outer_ipv4.ihl = 5
    outer_ipv4.total_len = ipv4.total_len + 20
    outer_ipv4.ttl = 64
    outer_ipv4.protocol = 4
    outer_ipv4.src = 198.18.0.100
    outer_ipv4.dst = 198.18.0.200
    outer_ipv4.update_checksum()
    tx
}}
"
    )
}

fn ipip_expected(vids: &[u16], inner: &[u8]) -> Vec<u8> {
    let mut outer = ipv4(4, 64, [198, 18, 0, 100], [198, 18, 0, 200], inner.len());
    outer[4..6].copy_from_slice(&[0, 0]); // id 0, no flags: a fresh header is zero-filled
    outer[6] = 0;
    outer[10..12].copy_from_slice(&[0, 0]);
    let c = csum(&outer);
    outer[10..12].copy_from_slice(&c.to_be_bytes());
    outer.extend_from_slice(inner);
    frame(vids, &outer)
}

#[test]
fn ipip_encap_xdp_writes_the_outer_header_and_keeps_the_rest() {
    if !nfl_runtime::require_kernel("ipip_encap_xdp_writes_the_outer_header_and_keeps_the_rest") {
        return;
    }
    let prog = load(&ipip_program("xdp"), "ipip");
    for vids in [&[][..], &[7][..], &[7, 300][..]] {
        let pkt = frame(vids, &inner_tcp());
        let (verdict, out) = run(&prog, &pkt);
        assert_eq!(verdict, XDP_TX, "tags {vids:?}");
        assert_eq!(out, ipip_expected(vids, &inner_tcp()), "tags {vids:?}");
    }
    // Not IPv4: untouched.
    let arp = [&MAC[..], &[0x08, 0x06], &[0u8; 28]].concat();
    assert_eq!(run(&prog, &arp), (XDP_PASS, arp.clone()));
}
