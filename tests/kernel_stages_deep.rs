//! Stages, example (b): a parse graph with every std.net protocol behind
//! 16 VLAN tags and 16 MPLS labels, which the kernel rejects as one program
//! (too complex), loads once nflc splits it and gives, on 10,000 generated
//! frames, the verdicts of a Rust reference of its parser and rules.

mod common;

use common::rng::Rng;
use common::stages::*;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

const BLOCKED_VID: u16 = 666;
const BLOCKED_LABEL: u32 = 4242;

/// Example (b): a parse graph with every std.net protocol (Ethernet, ARP,
/// IPv4 with options, IPv6, ICMP, ICMPv6, TCP, UDP) behind up to 16
/// nested VLAN tags and 16 MPLS labels; the control checks every tag and
/// label, then the L3/L4 headers.
fn deep_nf() -> String {
    let mut s = String::from(
        r#"import std.net

header tag[16] {
    pcp: u3
    dei: u1
    vid: u12
    ethertype: u16
}

header label[16] {
    value: u20
    class: u3
    bos: u1
    ttl: u8
}

counter proto[8]

parser deep overflow reject {
    state start {
        extract ethernet
        select ethernet.ethertype {
            0x8100 | 0x88a8: tags
            0x8847: labels
            0x0800: v4
            0x86dd: v6
            0x0806: arp_s
            _: accept
        }
    }
    state tags {
        extract tag
        select tag.last.ethertype {
            0x8100 | 0x88a8: tags
            0x8847: labels
            0x0800: v4
            0x86dd: v6
            0x0806: arp_s
            _: accept
        }
    }
    state labels {
        extract label
        select label.last.bos {
            0: labels
            _: v4
        }
    }
    state arp_s {
        extract arp
        accept
    }
    state v4 {
        extract ipv4
        select ipv4.version {
            4: v4_ihl
            _: reject
        }
    }
    state v4_ihl {
        select ipv4.ihl {
            5: v4_l4
            6..=15: v4_opts
            _: reject
        }
    }
    state v4_opts {
        skip (ipv4.ihl as u32) * 4 - 20
        goto v4_l4
    }
    state v4_l4 {
        select ipv4.frag_offset {
            0: v4_proto
            _: accept
        }
    }
    state v4_proto {
        select ipv4.protocol {
            1: icmp_s
            6: tcp_s
            17: udp_s
            _: accept
        }
    }
    state v6 {
        extract ipv6
        select ipv6.next_header {
            6: tcp_s
            17: udp_s
            58: icmpv6_s
            _: accept
        }
    }
    state icmp_s {
        extract icmp
        accept
    }
    state icmpv6_s {
        extract icmpv6
        accept
    }
    state tcp_s {
        extract tcp
        accept
    }
    state udp_s {
        extract udp
        accept
    }
}

control deep_check(xdp, deep) {
    if pkt.rejected { drop }
"#,
    );
    for i in 0..16 {
        s.push_str(&format!("    if tag[{i}].valid && tag[{i}].vid == {BLOCKED_VID} {{ drop }}\n"));
    }
    for i in 0..16 {
        s.push_str(&format!("    if label[{i}].valid && (label[{i}].value == {BLOCKED_LABEL} || label[{i}].ttl == 0) {{ drop }}\n"));
    }
    for i in 0..16 {
        s.push_str(&format!("    if tag[{i}].valid && tag[{i}].pcp == 7 && tag[{i}].dei == 1 {{ drop }}\n"));
        s.push_str(&format!("    if label[{i}].valid && label[{i}].class == 7 {{ drop }}\n"));
    }
    for i in 0..16 {
        s.push_str(&format!("    if tag[{i}].valid && tag[{i}].vid == 0 && tag[{i}].pcp != 0 {{ drop }}\n"));
    }
    s.push_str(
        r#"    if arp.valid { proto[0].count(); pass }
    if ipv4.valid && ipv4.ttl == 0 { drop }
    if ipv6.valid && ipv6.hop_limit == 0 { drop }
    if icmp.valid { proto[1].count() }
    if icmpv6.valid { proto[2].count() }
    if tcp.valid && (tcp.dst_port == 23 || tcp.flags & 0x03 == 0x03) { drop }
    if udp.valid && udp.dst_port == 19 { drop }
    if tcp.valid { proto[3].count() }
    if udp.valid { proto[4].count() }
    pass
}
"#,
    );
    s
}

/// What the reference parser found in a frame.
#[derive(Default)]
struct Deep {
    rejected: bool,
    /// `(pcp, dei, vid)` per tag; `(value, class, ttl)` per label.
    tags: Vec<(u8, u8, u16)>,
    labels: Vec<(u32, u8, u8)>,
    arp: bool,
    ipv4_ttl: Option<u8>,
    ipv6_hops: Option<u8>,
    /// `(dst port, flags)`; the UDP destination port.
    tcp: Option<(u16, u8)>,
    udp: Option<u16>,
}

/// The reference of `deep`'s parser: a header that does not fit rejects.
fn deep_parse(f: &[u8]) -> Deep {
    let mut d = Deep::default();
    let be16 = |o: usize| u16::from_be_bytes([f[o], f[o + 1]]);
    let mut at = 14;
    if f.len() < at {
        d.rejected = true;
        return d;
    }
    let mut et = be16(12);
    loop {
        match et {
            0x8100 | 0x88a8 => {
                if d.tags.len() == 16 || f.len() < at + 4 {
                    d.rejected = true;
                    return d;
                }
                d.tags.push((f[at] >> 5, (f[at] >> 4) & 1, be16(at) & 0xfff));
                et = be16(at + 2);
                at += 4;
            }
            0x8847 => {
                loop {
                    if d.labels.len() == 16 || f.len() < at + 4 {
                        d.rejected = true;
                        return d;
                    }
                    let w = u32::from_be_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]]);
                    d.labels.push((w >> 12, ((w >> 9) & 7) as u8, w as u8));
                    at += 4;
                    if w & 0x100 != 0 {
                        break;
                    }
                }
                et = 0x0800;
            }
            0x0806 => {
                d.arp = f.len() >= at + 28;
                d.rejected = !d.arp;
                return d;
            }
            0x0800 => {
                if f.len() < at + 20 || f[at] >> 4 != 4 || f[at] & 15 < 5 {
                    d.rejected = true;
                    return d;
                }
                d.ipv4_ttl = Some(f[at + 8]);
                let (proto, frag) = (f[at + 9], be16(at + 6) & 0x1fff);
                at += usize::from(f[at] & 15) * 4;
                if frag != 0 {
                    return d;
                }
                deep_l4(f, at, proto, &mut d);
                return d;
            }
            0x86dd => {
                if f.len() < at + 40 {
                    d.rejected = true;
                    return d;
                }
                d.ipv6_hops = Some(f[at + 7]);
                let next = f[at + 6];
                deep_l4(f, at + 40, if next == 58 { 1 } else { next }, &mut d);
                return d;
            }
            _ => return d,
        }
    }
}

fn deep_l4(f: &[u8], at: usize, proto: u8, d: &mut Deep) {
    let need = match proto {
        1 => 4,
        6 => 20,
        17 => 8,
        _ => return,
    };
    if f.len() < at + need {
        d.rejected = true;
        return;
    }
    let port = u16::from_be_bytes([f[at + 2], f[at + 3]]);
    match proto {
        6 => d.tcp = Some((port, f[at + 13])),
        17 => d.udp = Some(port),
        _ => {}
    }
}

fn deep_reference(f: &[u8]) -> u32 {
    let d = deep_parse(f);
    let tag_drop = d.tags.iter().any(|&(pcp, dei, vid)| vid == BLOCKED_VID || (pcp == 7 && dei == 1) || (vid == 0 && pcp != 0));
    let label_drop = d.labels.iter().any(|&(value, class, ttl)| value == BLOCKED_LABEL || ttl == 0 || class == 7);
    if d.rejected || tag_drop || label_drop {
        return XDP_DROP;
    }
    if d.arp {
        return XDP_PASS;
    }
    let l3 = d.ipv4_ttl == Some(0) || d.ipv6_hops == Some(0);
    let l4 = d.tcp.is_some_and(|(port, flags)| port == 23 || flags & 3 == 3) || d.udp == Some(19);
    if l3 || l4 { XDP_DROP } else { XDP_PASS }
}

/// A frame with up to 16 (sometimes 17) tags, up to 16 (sometimes 17)
/// MPLS labels, then ARP, IPv4 (with or without an option word) or IPv6
/// and ICMP, TCP or UDP; values near the rules' constants; one in ten cut
/// short.
fn deep_frame(rng: &mut Rng) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    let n_tags = if rng.below(3) == 0 { 0 } else { rng.below(18) as usize };
    let mpls = rng.below(3) == 0;
    let l3 = [0x0800u16, 0x86dd, 0x0806, 0x9000][rng.below(4) as usize];
    let mut types: Vec<u16> = (0..n_tags).map(|_| if rng.below(2) == 0 { 0x8100 } else { 0x88a8 }).collect();
    types.push(if mpls { 0x8847 } else { l3 });
    f.extend_from_slice(&types[0].to_be_bytes());
    for t in &types[1..] {
        let vid: u16 = [0, BLOCKED_VID, 1 + rng.below(4000) as u16][rng.below(3) as usize];
        let pcp = [0u16, 7, rng.below(8) as u16][rng.below(3) as usize];
        let dei = u16::from(rng.below(4) == 0);
        f.extend_from_slice(&((pcp << 13) | (dei << 12) | vid).to_be_bytes());
        f.extend_from_slice(&t.to_be_bytes());
    }
    let l3 = if mpls {
        let n = 1 + rng.below(17) as u32;
        for k in 0..n {
            let value = if rng.below(8) == 0 { BLOCKED_LABEL } else { 16 + rng.below(100_000) as u32 };
            let class = if rng.below(10) == 0 { 7 } else { rng.below(7) as u32 };
            let ttl = if rng.below(12) == 0 { 0 } else { 1 + rng.below(255) as u32 };
            let bos = u32::from(k + 1 == n);
            f.extend_from_slice(&((value << 12) | (class << 9) | (bos << 8) | ttl).to_be_bytes());
        }
        0x0800
    } else {
        l3
    };
    let proto = [1u8, 6, 17, 47][rng.below(4) as usize];
    let ttl = if rng.below(10) == 0 { 0 } else { 64 };
    match l3 {
        0x0800 => {
            let opts = rng.below(4) == 0 && proto != 47;
            let frag: u16 = if rng.below(10) == 0 { 5 } else { 0 };
            f.extend_from_slice(&[if opts { 0x46 } else { 0x45 }, 0, 0, 60, 0, 1]);
            f.extend_from_slice(&frag.to_be_bytes());
            f.extend_from_slice(&[ttl, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
            if opts {
                f.extend_from_slice(&[1, 1, 1, 0]);
            }
        }
        0x86dd => {
            let next = [58u8, 6, 17, 47][rng.below(4) as usize];
            f.extend_from_slice(&[0x60, 0, 0, 0, 0, 20, next, ttl]);
            f.extend_from_slice(&[0u8; 32]);
        }
        0x0806 => f.extend_from_slice(&[0u8; 28]),
        _ => {}
    }
    let port: u16 = [19u16, 23, 80, rng.next() as u16][rng.below(4) as usize];
    let flags: u8 = [0x02u8, 0x03, 0x10][rng.below(3) as usize];
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&port.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0x50, flags, 0, 0, 0, 0, 0, 0]);
    if rng.below(10) == 0 {
        let keep = 14 + rng.below(f.len() as u64 - 14) as usize;
        f.truncate(keep);
    }
    f
}

#[test]
fn deep_parse_graph_loads_once_split_and_matches_the_reference() {
    if !nfl_runtime::require_kernel("deep_parse_graph_loads_once_split_and_matches_the_reference") {
        return;
    }
    let text = deep_nf();
    let whole = build_whole("deep.nf", &text);
    let err = nfl_runtime::load(&whole.object, None).expect_err("the kernel rejects the unsplit program");
    eprintln!("unsplit: {} insns, est {} processed: {err}", whole.codegen.estimate.insns, whole.codegen.estimate.processed);
    let split = build_split("deep.nf", &text);
    let plan = split.plan.as_ref().expect("split");
    let prog = nfl_runtime::load(&split.object, None).unwrap_or_else(|e| {
        panic!("split program rejected: {e}\n{}", e.verifier_log().map(nfl_runtime::trim_verifier_log).unwrap_or_default())
    });
    eprintln!("{} stages\n{}", plan.len(), stats_line(&split, &prog));
    let mut rng = Rng::new(0x5eed_0003);
    let mut verdicts = [0usize; 3];
    for i in 0..10_000 {
        let f = deep_frame(&mut rng);
        let want = deep_reference(&f);
        let got = prog.test_run(&f, 1).expect("test run").retval;
        assert_eq!(got, want, "packet {i}: {f:02x?}");
        verdicts[got as usize] += 1;
    }
    eprintln!("verdicts (abort, drop, pass): {verdicts:?}");
    assert!(verdicts[1] > 1_000 && verdicts[2] > 1_000, "{verdicts:?}");
}

