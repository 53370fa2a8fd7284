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

const GUE_HEADERS: &str = "header outer_udp {
    src_port: u16
    dst_port: u16
    len: u16
    checksum: u16
}
header gue {
    version: u2
    ctl: u1
    hlen: u5
    proto: u8
    flags: u16
}
";

/// GUE: outer IPv4 + UDP (to 6080, source port from the flow, checksum 0)
/// + a 4-byte GUE header, all three inserted by one resize.
#[test]
fn gue_encap_inserts_three_headers_at_once() {
    if !nfl_runtime::require_kernel("gue_encap_inserts_three_headers_at_once") {
        return;
    }
    // In TC, `bpf_skb_adjust_room` with the UDP encapsulation flags.
    for (hook, tx) in [("xdp", XDP_TX), ("tc", TC_ACT_REDIRECT)] {
        gue_encap(hook, tx);
    }
}

fn gue_encap(hook: &str, tx: u32) {
    let text = format!(
        "import std.net\n{OUTER_IPV4}{GUE_HEADERS}
control gue_encap({hook}) {{
    if !ipv4.valid || !tcp.valid {{ pass }}
    // Written before the insert: kept.
    ipv4.ttl -= 1
    ipv4.update_checksum()
    outer_ipv4.set_valid()
    outer_udp.set_valid()
    gue.set_valid()
    outer_ipv4.version = 4
    outer_ipv4.ihl = 5
    outer_ipv4.total_len = ipv4.total_len + 32
    outer_ipv4.ttl = 64
    outer_ipv4.protocol = 17
    outer_ipv4.src = 198.18.0.100
    outer_ipv4.dst = 198.18.0.200
    outer_ipv4.update_checksum()
    outer_udp.src_port = (tcp.src_port ^ tcp.dst_port) | 0xc000
    outer_udp.dst_port = 6080
    outer_udp.len = ipv4.total_len + 12
    gue.proto = 4
    // Written after it, through the re-derived pointer.
    tcp.dst_port = 8080
    tcp.update_checksum()
    tx
}}
"
    );
    let prog = load(&text, "gue_encap");
    let (verdict, out) = run(&prog, &frame(&[], &inner_tcp()));
    let seg = tcp(SRC, DST, 40000, 8080, b"hello, world");
    let mut inner = ipv4(6, 63, SRC, DST, seg.len());
    inner.extend_from_slice(&seg);
    assert_eq!(verdict, tx, "{hook}");
    let mut outer = ipv4(17, 64, [198, 18, 0, 100], [198, 18, 0, 200], 8 + 4 + inner.len());
    outer[4..7].copy_from_slice(&[0, 0, 0]);
    outer[10..12].copy_from_slice(&[0, 0]);
    let c = csum(&outer);
    outer[10..12].copy_from_slice(&c.to_be_bytes());
    let sport = (40000u16 ^ 80) | 0xc000;
    outer.extend_from_slice(&sport.to_be_bytes());
    outer.extend_from_slice(&6080u16.to_be_bytes());
    outer.extend_from_slice(&((8 + 4 + inner.len()) as u16).to_be_bytes());
    outer.extend_from_slice(&[0, 0]); // no UDP checksum
    outer.extend_from_slice(&[0, 4, 0, 0]); // GUE version 0, proto 4
    outer.extend_from_slice(&inner);
    assert_eq!(out, frame(&[], &outer), "{hook}");
}

/// `vlan.push()` / `vlan.pop()`: the stack's elements move, the Ethernet
/// type is the program's to set.
fn vlan_program(hook: &str) -> String {
    format!(
        "import std.net
control vlans({hook}) {{
    if !ethernet.valid {{ pass }}
    if ipv4.valid && ipv4.ttl == 1 {{
        // Pop the outer tag.
        if !vlan[0].valid {{ drop }}
        ethernet.ethertype = vlan[0].ethertype
        vlan.pop()
        tx
    }}
    // Push a tag (100) in front of what there is.
    let inner_type = ethernet.ethertype
    vlan.push()
    // A pushed tag reads as zeros until written.
    if vlan[0].vid != 0 || vlan[0].ethertype != 0 {{ drop }}
    vlan[0].vid = 100
    vlan[0].pcp = 5
    vlan[0].ethertype = inner_type
    ethernet.ethertype = 0x8100
    if vlan[1].valid {{ vlan[1].pcp = 1 }}
    tx
}}
"
    )
}

fn check_vlans(prog: &nfl_runtime::LoadedProgram, tx: u32, both_tags: bool) {
    let ip = |ttl: u8| {
        let seg = udp(SRC, DST, 1, 2, b"x");
        let mut p = ipv4(17, ttl, SRC, DST, seg.len());
        p.extend_from_slice(&seg);
        p
    };
    // Push onto no tag, and onto one tag (the old one becomes [1], pcp 1).
    let (v, out) = run(prog, &frame(&[], &ip(9)));
    assert_eq!((v, out), (tx, frame(&[0xa064], &ip(9))));
    let (v, out) = run(prog, &frame(&[7], &ip(9)));
    assert_eq!((v, out), (tx, frame(&[0xa064, 0x2007], &ip(9))));
    // Pop the only tag; pop the outer of two.
    let (v, out) = run(prog, &frame(&[7], &ip(1)));
    assert_eq!((v, out), (tx, frame(&[], &ip(1))));
    if both_tags {
        let (v, out) = run(prog, &frame(&[7, 8], &ip(1)));
        assert_eq!((v, out), (tx, frame(&[8], &ip(1))));
    } else {
        // TC pops one tag of two by dropping (see docs/decisions.md).
        assert_eq!(run(prog, &frame(&[7, 8], &ip(1))).0, TC_ACT_SHOT);
    }
    if both_tags {
        // A full stack takes no third tag: dropped, never aborted.
        let (v, _) = run(prog, &frame(&[7, 8], &ip(9)));
        assert_ne!(v, tx);
    }
}

#[test]
fn vlan_push_and_pop_xdp() {
    if !nfl_runtime::require_kernel("vlan_push_and_pop_xdp") {
        return;
    }
    let prog = load(&vlan_program("xdp"), "vlans");
    check_vlans(&prog, XDP_TX, true);
    let (v, _) = run(&prog, &frame(&[7, 8], &{
        let seg = udp(SRC, DST, 1, 2, b"x");
        let mut p = ipv4(17, 9, SRC, DST, seg.len());
        p.extend_from_slice(&seg);
        p
    }));
    assert_eq!(v, XDP_DROP);
}

/// VXLAN decapsulation: the outer Ethernet, IPv4, UDP and VXLAN headers go
/// (one resize), the inner frame is what is left.
fn vxlan_program(hook: &str) -> String {
    format!(
        "import std.net
header vxlan {{
    flags: u8
    reserved: u24
    vni: u24
    reserved2: u8
}}
header inner_ethernet {{
    dst: u48
    src: u48
    ethertype: u16
}}
parser vx {{
    state start {{
        extract ethernet
        select ethernet.ethertype {{ 0x0800: ip; _: accept }}
    }}
{}    state l4 {{
        extract udp
        select udp.dst_port {{ 4789: tunnel; _: accept }}
    }}
    state tunnel {{
        extract vxlan
        extract inner_ethernet
        accept
    }}
}}
control decap({hook}, vx) {{
    if !ethernet.valid || !ipv4.valid || !udp.valid || !vxlan.valid || !inner_ethernet.valid {{ pass }}
    if vxlan.vni != 42 {{ drop }}
    ethernet.set_invalid()
    ipv4.set_invalid()
    udp.set_invalid()
    vxlan.set_invalid()
    inner_ethernet.src = 02:00:00:00:00:99
    tx
}}
",
        ip_state(17, "l4")
    )
}

fn vxlan_frame(inner: &[u8], options: usize) -> Vec<u8> {
    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    vx.extend_from_slice(inner);
    let seg = udp(SRC, DST, 5555, 4789, &vx);
    let mut ip = ipv4(17, 64, SRC, DST, seg.len() + options);
    if options > 0 {
        ip[0] = 0x45 + (options / 4) as u8;
        ip[10..12].copy_from_slice(&[0, 0]);
        ip.extend(std::iter::repeat_n(1u8, options)); // NOPs
        let c = csum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    }
    ip.extend_from_slice(&seg);
    frame(&[], &ip)
}

fn check_vxlan(prog: &nfl_runtime::LoadedProgram, tx: u32) {
    let inner = frame(&[], &inner_tcp());
    for options in [0, 8] {
        let (v, out) = run(prog, &vxlan_frame(&inner, options));
        let mut want = inner.clone();
        want[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0x99]);
        assert_eq!((v, out), (tx, want), "{options} bytes of IPv4 options");
    }
}

#[test]
fn vxlan_decap_xdp_exposes_the_inner_frame() {
    if !nfl_runtime::require_kernel("vxlan_decap_xdp_exposes_the_inner_frame") {
        return;
    }
    let prog = load(&vxlan_program("xdp"), "decap");
    check_vxlan(&prog, XDP_TX);
}

/// Incremental TCP/UDP checksums after rewriting the destination address
/// and port, against checksums computed from scratch.
#[test]
fn incremental_checksums_match_a_full_recompute() {
    if !nfl_runtime::require_kernel("incremental_checksums_match_a_full_recompute") {
        return;
    }
    let text = "import std.net
control rewrite(xdp) {
    if !ipv4.valid { pass }
    ipv4.dst = 203.0.113.77
    ipv4.ttl -= 1
    ipv4.update_checksum()
    if tcp.valid {
        tcp.dst_port = 8080
        tcp.update_checksum()
    }
    if udp.valid {
        udp.dst_port = 5353
        udp.update_checksum()
    }
    tx
}
";
    let prog = load(text, "rewrite");
    let new_dst = [203, 0, 113, 77];
    for data in [&b"hello, world"[..], b"odd", b""] {
        let seg = tcp(SRC, DST, 40000, 80, data);
        let mut pkt = ipv4(6, 64, SRC, DST, seg.len());
        pkt.extend_from_slice(&seg);
        let (v, out) = run(&prog, &frame(&[], &pkt));
        let seg = tcp(SRC, new_dst, 40000, 8080, data);
        let mut want = ipv4(6, 63, SRC, new_dst, seg.len());
        want.extend_from_slice(&seg);
        assert_eq!((v, out), (XDP_TX, frame(&[], &want)), "TCP with {data:?}");

        let seg = udp(SRC, DST, 1000, 53, data);
        let mut pkt = ipv4(17, 64, SRC, DST, seg.len());
        pkt.extend_from_slice(&seg);
        let (v, out) = run(&prog, &frame(&[7], &pkt));
        let seg = udp(SRC, new_dst, 1000, 5353, data);
        let mut want = ipv4(17, 63, SRC, new_dst, seg.len());
        want.extend_from_slice(&seg);
        assert_eq!((v, out), (XDP_TX, frame(&[7], &want)), "UDP with {data:?}");

        // A UDP checksum of 0 (none) stays 0.
        let mut seg = udp(SRC, DST, 1000, 53, data);
        seg[6..8].copy_from_slice(&[0, 0]);
        let mut pkt = ipv4(17, 64, SRC, DST, seg.len());
        pkt.extend_from_slice(&seg);
        let (_, out) = run(&prog, &frame(&[], &pkt));
        assert_eq!(&out[14 + 20 + 6..14 + 20 + 8], &[0, 0]);
    }
}

#[test]
fn ipip_encap_tc() {
    if !nfl_runtime::require_kernel("ipip_encap_tc") {
        return;
    }
    let prog = load(&ipip_program("tc"), "ipip");
    for vids in [&[][..], &[7][..]] {
        let pkt = frame(vids, &inner_tcp());
        let (verdict, out) = run(&prog, &pkt);
        assert_eq!(verdict, TC_ACT_REDIRECT, "tags {vids:?}");
        assert_eq!(out, ipip_expected(vids, &inner_tcp()), "tags {vids:?}");
    }
}

#[test]
fn vxlan_decap_tc() {
    if !nfl_runtime::require_kernel("vxlan_decap_tc") {
        return;
    }
    let prog = load(&vxlan_program("tc"), "decap");
    check_vxlan(&prog, TC_ACT_REDIRECT);
}

#[test]
fn vlan_push_and_pop_tc() {
    if !nfl_runtime::require_kernel("vlan_push_and_pop_tc") {
        return;
    }
    let prog = load(&vlan_program("tc"), "vlans");
    check_vlans(&prog, TC_ACT_REDIRECT, false);
}

/// No room at the front for what is inserted (XDP gives 256 bytes of
/// headroom; this header is 304): a defined verdict, drop, never abort.
#[test]
fn inserting_more_than_the_headroom_drops_the_packet() {
    if !nfl_runtime::require_kernel("inserting_more_than_the_headroom_drops_the_packet") {
        return;
    }
    let fields: String = (0..38).map(|i| format!("    f{i}: u64\n")).collect();
    let text = format!("import std.net\nheader big {{\n{fields}}}\ncontrol grow(xdp) {{\n    big.set_valid()\n    big.f0 = 1\n    tx\n}}\n");
    let prog = load(&text, "grow");
    let pkt = frame(&[], &inner_tcp());
    assert_eq!(run(&prog, &pkt).0, XDP_DROP);
}

const OUTER_IPV6: &str = "header outer_ipv6 {
    version: u4
    traffic_class: u8
    flow_label: u20
    payload_len: u16
    next_header: u8
    hop_limit: u8
    src_hi: u64
    src_lo: u64
    dst_hi: u64
    dst_lo: u64
}
";

/// IPv4-in-IPv6 and IPv6-in-IPv6: an outer IPv6 header (next header 4 or
/// 41) after Ethernet.
#[test]
fn ipv6_outer_header_carries_ipv4_and_ipv6() {
    if !nfl_runtime::require_kernel("ipv6_outer_header_carries_ipv4_and_ipv6") {
        return;
    }
    for (hook, tx) in [("xdp", XDP_TX), ("tc", TC_ACT_REDIRECT)] {
        ipv6_outer(hook, tx);
    }
}

fn ipv6_outer(hook: &str, tx: u32) {
    let text = format!(
        "import std.net\n{OUTER_IPV6}
control ip6tnl({hook}) {{
    if !ethernet.valid {{ pass }}
    if ipv4.valid {{
        outer_ipv6.set_valid()
        outer_ipv6.payload_len = ipv4.total_len
        outer_ipv6.next_header = 4
        ethernet.ethertype = 0x86dd
    }} else if ipv6.valid {{
        outer_ipv6.set_valid()
        outer_ipv6.payload_len = ipv6.payload_len + 40
        outer_ipv6.next_header = 41
    }} else {{
        pass
    }}
    outer_ipv6.version = 6
    outer_ipv6.hop_limit = 64
    outer_ipv6.src_hi = 0x2001_0db8_0000_0000
    outer_ipv6.src_lo = 1
    outer_ipv6.dst_hi = 0x2001_0db8_0000_0000
    outer_ipv6.dst_lo = 2
    tx
}}
"
    );
    let prog = load(&text, "ip6tnl");
    let outer = |next: u8, payload: usize| {
        let mut h = vec![0x60, 0, 0, 0];
        h.extend_from_slice(&(payload as u16).to_be_bytes());
        h.extend_from_slice(&[next, 64]);
        h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        h
    };
    let inner4 = inner_tcp();
    let (v, out) = run(&prog, &frame(&[], &inner4));
    let want = [&MAC[..], &[0x86, 0xdd], &outer(4, inner4.len()), &inner4].concat();
    assert_eq!((v, out), (tx, want), "{hook}");
    // An IPv6/UDP packet.
    let mut inner6 = vec![0x60, 0, 0, 0, 0, 9, 17, 64];
    inner6.extend_from_slice(&[0xfd; 32]);
    inner6.extend_from_slice(&[0, 1, 0, 2, 0, 9, 0, 0, b'x']);
    let pkt = [&MAC[..], &[0x86, 0xdd], &inner6].concat();
    let (v, out) = run(&prog, &pkt);
    let want = [&MAC[..], &[0x86, 0xdd], &outer(41, inner6.len()), &inner6].concat();
    assert_eq!((v, out), (tx, want), "{hook}");
}

/// What the IPIP encapsulation costs: instructions and verifier work of the
/// encapsulating program against the same writes made in place (no
/// resize). Printed for the record (`--nocapture`), bounded so that a
/// regression shows.
#[test]
fn ipip_encap_cost_is_bounded() {
    if !nfl_runtime::require_kernel("ipip_encap_cost_is_bounded") {
        return;
    }
    // The same writes into the packet's own IPv4 header.
    let in_place = ipip_program("xdp").replace("    outer_ipv4.set_valid()\n", "").replace("outer_ipv4.", "ipv4.");
    let cost = |text: &str| {
        let b = build("ipip.nf", text);
        let p = nfl_runtime::load(&b.object, Some("ipip")).expect("load");
        (b.codegen.insns.len(), p.verified_insns().unwrap_or(0))
    };
    let (encap, encap_verified) = cost(&ipip_program("xdp"));
    let (plain, plain_verified) = cost(&in_place);
    println!("IPIP encap: {encap} insns, {encap_verified} processed; in place: {plain} insns, {plain_verified} processed");
    assert!(encap < plain + 160, "the resize costs {} instructions", encap - plain);
    assert!(encap_verified < plain_verified + 400, "the resize costs {} processed instructions", encap_verified - plain_verified);
}

/// A parser state extracting IPv4, skipping its options, and going on to
/// `next` for protocol `proto`.
fn ip_state(proto: u8, next: &str) -> String {
    format!(
        "    state ip {{
        extract ipv4
        skip ((ipv4.ihl as u16) - 5) * 4
        select ipv4.protocol {{ {proto}: {next}; _: accept }}
    }}
"
    )
}

/// IPIP decapsulation behind Ethernet and VLAN tags: the outer IPv4 header
/// (with its options) goes, the link layer moves up to the inner packet.
fn ipip_decap_program(hook: &str) -> String {
    format!(
        "import std.net\n{}
parser outer {{
    state start {{
        extract ethernet
        select ethernet.ethertype {{ 0x8100: tag; 0x0800: ip; _: accept }}
    }}
    state tag {{
        extract vlan
        select vlan.last.ethertype {{ 0x8100: tag; 0x0800: ip; _: accept }}
    }}
{}    state inner {{
        extract inner_ipv4
        accept
    }}
}}
control decap({hook}, outer) {{
    if !ipv4.valid || !inner_ipv4.valid {{ pass }}
    ipv4.set_invalid()
    inner_ipv4.ttl -= 1
    inner_ipv4.update_checksum()
    tx
}}
",
        OUTER_IPV4.replace("outer_ipv4", "inner_ipv4"),
        ip_state(4, "inner")
    )
}

fn check_ipip_decap(prog: &nfl_runtime::LoadedProgram, tx: u32, tags: &[&[u16]]) {
    for &vids in tags {
        for options in [0usize, 12] {
            let inner = inner_tcp();
            let mut outer = ipv4(4, 64, [198, 18, 0, 100], [198, 18, 0, 200], inner.len() + options);
            if options > 0 {
                outer[0] = 0x45 + (options / 4) as u8;
                outer[10..12].copy_from_slice(&[0, 0]);
                outer.extend(std::iter::repeat_n(1u8, options));
                let c = csum(&outer);
                outer[10..12].copy_from_slice(&c.to_be_bytes());
            }
            outer.extend_from_slice(&inner);
            let (v, out) = run(prog, &frame(vids, &outer));
            let seg = tcp(SRC, DST, 40000, 80, b"hello, world");
            let mut want = ipv4(6, 63, SRC, DST, seg.len());
            want.extend_from_slice(&seg);
            assert_eq!((v, out), (tx, frame(vids, &want)), "tags {vids:?}, {options} bytes of options");
        }
    }
}

#[test]
fn ipip_decap_xdp_behind_vlan_tags() {
    if !nfl_runtime::require_kernel("ipip_decap_xdp_behind_vlan_tags") {
        return;
    }
    let prog = load(&ipip_decap_program("xdp"), "decap");
    check_ipip_decap(&prog, XDP_TX, &[&[], &[7], &[7, 8]]);
}

#[test]
fn ipip_decap_tc() {
    if !nfl_runtime::require_kernel("ipip_decap_tc") {
        return;
    }
    let prog = load(&ipip_decap_program("tc"), "decap");
    check_ipip_decap(&prog, TC_ACT_REDIRECT, &[&[]]);
}
