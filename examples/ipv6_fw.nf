// ipv6_fw: an IPv6 firewall that finds the upper-layer protocol behind up
// to 8 extension headers (hop-by-hop, routing, destination options,
// fragment, authentication), as the IPv6 chain lays them out: each names
// the next, and its length says where the next starts. The parser loop is
// bounded by the header stack `ext[8]`: a ninth extension header finds the
// stack full and `overflow drop` drops the packet (an attacker cannot hide
// a port behind a longer chain; the default, `overflow pass`, would let
// it through unfiltered). ESP (50) ends the
// walk: what follows is encrypted.
//
// Policy: TCP and UDP to the blocked ports are dropped, and ICMPv6
// redirects. A first fragment is checked like a whole packet; later
// fragments carry no ports and pass (their first fragment was checked).
// Everything else, IPv4, ARP and other traffic included, passes.
import std.net

config {
    blocked_tcp: set<u16> = {23, 135, 445}
    blocked_udp: set<u16> = {69, 161}
}

// The first two bytes of every extension header; `skip` passes the rest.
header ext[8] {
    next_header: u8
    hdr_len: u8
}

// The rest of a fragment header (44), after its first two bytes: the
// offset (13 bits) and flags, and the identification. One per packet.
header frag_rest[1] {
    offset_flags: u16
    ident: u32
}

parser v6 overflow drop {
    state start {
        extract ethernet
        select ethernet.ethertype {
            0x86dd: fixed
            _: accept
        }
    }
    state fixed {
        extract ipv6
        select ipv6.next_header {
            0 | 43 | 60: options
            44: fragment
            51: auth
            6: l4_tcp
            17: l4_udp
            58: l4_icmp
            _: accept
        }
    }
    // Hop-by-hop (0), routing (43), destination options (60): 8-byte
    // units after the first 8.
    state options {
        extract ext
        skip (ext.last.hdr_len as u16 + 1) * 8 - 2
        select ext.last.next_header {
            0 | 43 | 60: options
            44: fragment
            51: auth
            6: l4_tcp
            17: l4_udp
            58: l4_icmp
            _: accept
        }
    }
    // Authentication (51): 4-byte units after the first 8.
    state auth {
        extract ext
        skip (ext.last.hdr_len as u16 + 2) * 4 - 2
        select ext.last.next_header {
            0 | 43 | 60: options
            44: fragment
            51: auth
            6: l4_tcp
            17: l4_udp
            58: l4_icmp
            _: accept
        }
    }
    // A fragment header counts against the bound like the others; only
    // the first fragment (offset 0) carries the upper-layer header. A
    // second fragment header finds `frag_rest` full: overflow, dropped.
    state fragment {
        extract ext
        extract frag_rest
        select frag_rest.last.offset_flags & 0xfff8 {
            0: first_fragment
            _: accept
        }
    }
    state first_fragment {
        select ext.last.next_header {
            0 | 43 | 60: options
            44: fragment
            51: auth
            6: l4_tcp
            17: l4_udp
            58: l4_icmp
            _: accept
        }
    }
    state l4_tcp {
        extract tcp
        accept
    }
    state l4_udp {
        extract udp
        accept
    }
    state l4_icmp {
        extract icmpv6
        accept
    }
}

control ipv6_fw(xdp, v6) {
    if !ipv6.valid { pass }
    if pkt.rejected { drop }
    if tcp.valid && tcp.dst_port in config.blocked_tcp { drop }
    if udp.valid && udp.dst_port in config.blocked_udp { drop }
    if icmpv6.valid && icmpv6.type == 137 { drop }
    pass
}
