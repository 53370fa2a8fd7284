// std.net — the standard network headers and a parser for them.
//
// `import std.net` brings every declaration below into scope. The headers
// are laid out exactly as on the wire (network byte order, most significant
// bit first), so `ipv4.ihl` is the low nibble of the first IPv4 byte.
//
// The parser `std_parse` recognises:
//
//   ethernet
//     -> up to two VLAN tags (802.1Q 0x8100 / 802.1ad 0x88a8), in `vlan[0..2]`
//     -> arp (0x0806) | ipv4 (0x0800) | ipv6 (0x86dd)
//   ipv4 (options skipped using IHL; IHL < 5 or version != 4 rejects)
//     -> icmp (1) | tcp (6) | udp (17), first fragments only
//   ipv6 (no extension headers are walked)
//     -> icmpv6 (58) | tcp (6) | udp (17)
//
// Anything else (an unknown ethertype or protocol, a non-first IPv4 fragment)
// is accepted with the headers parsed so far. A truncated header rejects:
// the control still runs, with `pkt.rejected` set (see docs/language.md).

// EtherType values.
const ETH_P_IPV4: u16 = 0x0800
const ETH_P_ARP: u16 = 0x0806
const ETH_P_VLAN: u16 = 0x8100  // 802.1Q
const ETH_P_QINQ: u16 = 0x88a8  // 802.1ad service tag
const ETH_P_IPV6: u16 = 0x86dd

// IP protocol numbers (ipv4.protocol, ipv6.next_header).
const IPPROTO_ICMP: u8 = 1
const IPPROTO_TCP: u8 = 6
const IPPROTO_UDP: u8 = 17
const IPPROTO_ICMPV6: u8 = 58

// TCP flag bits (tcp.flags).
const TCP_FIN: u8 = 0x01
const TCP_SYN: u8 = 0x02
const TCP_RST: u8 = 0x04
const TCP_PSH: u8 = 0x08
const TCP_ACK: u8 = 0x10
const TCP_URG: u8 = 0x20
const TCP_ECE: u8 = 0x40
const TCP_CWR: u8 = 0x80

// Ethernet II, 14 bytes.
header ethernet {
    dst: u48
    src: u48
    ethertype: u16
}

// An 802.1Q / 802.1ad tag, 4 bytes. A stack of two holds QinQ: `vlan[0]` is
// the outer tag. Its `ethertype` is the type of what follows the tag.
header vlan[2] {
    pcp: u3
    dei: u1
    vid: u12
    ethertype: u16
}

// ARP for IPv4 over Ethernet, 28 bytes.
header arp {
    htype: u16
    ptype: u16
    hlen: u8
    plen: u8
    oper: u16
    sha: u48
    spa: u32
    tha: u48
    tpa: u32
}

// IPv4 without options, 20 bytes. Options (ihl > 5) are skipped by the parser.
header ipv4 {
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

// IPv6 fixed header, 40 bytes. Addresses are split into 64-bit halves.
header ipv6 {
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

// The first 4 bytes of ICMP and ICMPv6 messages; the rest depends on `type`.
header icmp {
    type: u8
    code: u8
    checksum: u16
}

header icmpv6 {
    type: u8
    code: u8
    checksum: u16
}

// TCP without options, 20 bytes. `flags` holds CWR..FIN (see TCP_* above).
header tcp {
    src_port: u16
    dst_port: u16
    seq: u32
    ack: u32
    data_offset: u4
    reserved: u4
    flags: u8
    window: u16
    checksum: u16
    urgent: u16
}

// UDP, 8 bytes.
header udp {
    src_port: u16
    dst_port: u16
    len: u16
    checksum: u16
}

// A third VLAN tag rejects (`pkt.rejected`) and the control still runs:
// the standard parser serves firewalls, which must see every packet, so
// it does not take the language's default (`overflow pass`).
parser std_parse overflow reject {
    state start {
        extract ethernet
        select ethernet.ethertype {
            0x8100 | 0x88a8: parse_vlan
            0x0800: parse_ipv4
            0x86dd: parse_ipv6
            0x0806: parse_arp
            _: accept
        }
    }

    // Loops once per tag. The loop is bounded by the stack: a third tag
    // does not fit in `vlan[2]`, so extracting it rejects.
    state parse_vlan {
        extract vlan
        select vlan.last.ethertype {
            0x8100 | 0x88a8: parse_vlan
            0x0800: parse_ipv4
            0x86dd: parse_ipv6
            0x0806: parse_arp
            _: accept
        }
    }

    state parse_arp {
        extract arp
        accept
    }

    // Version must be 4 and IHL at least 5 (20 bytes); anything else is
    // malformed and rejects. One test per state keeps each field compared
    // once on the common path.
    state parse_ipv4 {
        extract ipv4
        select ipv4.version {
            4: parse_ipv4_ihl
            _: reject
        }
    }

    state parse_ipv4_ihl {
        select ipv4.ihl {
            5: parse_ipv4_l4
            6..=15: parse_ipv4_options
            _: reject
        }
    }

    // IHL counts 32-bit words; the fixed header is 5 of them. IHL is at
    // least 6 here, so the subtraction cannot wrap.
    state parse_ipv4_options {
        skip (ipv4.ihl as u32) * 4 - 20
        goto parse_ipv4_l4
    }

    // Only the first fragment (offset 0) carries the L4 header; later
    // fragments would be parsed as garbage, so they stop at IPv4.
    state parse_ipv4_l4 {
        select ipv4.frag_offset {
            0: parse_ipv4_proto
            _: accept
        }
    }

    state parse_ipv4_proto {
        select ipv4.protocol {
            1: parse_icmp
            6: parse_tcp
            17: parse_udp
            _: accept
        }
    }

    state parse_ipv6 {
        extract ipv6
        select ipv6.next_header {
            6: parse_tcp
            17: parse_udp
            58: parse_icmpv6
            _: accept
        }
    }

    state parse_icmp {
        extract icmp
        accept
    }

    state parse_icmpv6 {
        extract icmpv6
        accept
    }

    state parse_tcp {
        extract tcp
        accept
    }

    state parse_udp {
        extract udp
        accept
    }
}
