// router: IPv4 and IPv6 forwarding by longest-prefix match. Routes come
// from router.yaml and can be changed at run time; each gives the next
// hop's MAC, our MAC on the egress link and the egress interface. A
// forwarded packet gets its MACs rewritten and its TTL (hop limit)
// decremented, the IPv4 header checksum patched incrementally (RFC 1624),
// and leaves with `redirect`. A packet whose TTL would reach 0 is dropped
// here (a slow path that sends ICMP time-exceeded is not modelled), and
// so is a destination no route covers.
//
// `nflc build examples/router.nf --explain` (with router.yaml):
//   table routes4 [ipv4.dst: lpm]: LPM trie `routes4_rules`, 16384
//     entries max; 5 entries at build, writable at run time
//   table routes6 [(ipv6.dst_hi, ipv6.dst_lo): lpm]: LPM trie
//     `routes6_rules` (key 4 + 16 bytes), 16384 entries max; 3 at build
//   each entry's value: priority, action, then the action's parameters
//   (32 bytes); 517 instructions
import std.net

counter forwarded
counter ttl_expired
counter no_route

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), with m the 16-bit word holding
// TTL (high byte) and protocol (low byte). Decrementing the TTL lowers m
// by 0x0100; the end-around carry is folded twice, since one fold can
// carry again.
action decrement_ttl() {
    let old_word = (ipv4.ttl as u32) << 8 | ipv4.protocol as u32
    let new_word = old_word - 0x0100
    let sum = (~ipv4.checksum) as u32 + (~old_word & 0xffff) + new_word
    let folded = (sum & 0xffff) + (sum >> 16)
    let folded2 = (folded & 0xffff) + (folded >> 16)
    ipv4.checksum = ~(folded2 as u16)
    ipv4.ttl -= 1
}

action forward4(next_hop: u48, src_mac: u48, port: u32) {
    ethernet.dst = next_hop
    ethernet.src = src_mac
    decrement_ttl()
    forwarded.count()
    redirect(port)
}

// IPv6 has no header checksum: the hop limit is just decremented.
action forward6(next_hop: u48, src_mac: u48, port: u32) {
    ethernet.dst = next_hop
    ethernet.src = src_mac
    ipv6.hop_limit -= 1
    forwarded.count()
    redirect(port)
}

action unreachable() {
    no_route.count()
    drop
}

table routes4 {
    key { ipv4.dst: lpm }
    actions { forward4, unreachable }
    default unreachable
    size 16384
}

// The 128-bit destination is one lpm key made of both halves.
table routes6 {
    key { (ipv6.dst_hi, ipv6.dst_lo): lpm }
    actions { forward6, unreachable }
    default unreachable
    size 16384
}

control router(xdp) {
    if pkt.rejected { drop }

    if ipv4.valid {
        if ipv4.ttl <= 1 {
            ttl_expired.count()
            drop
        }
        routes4.apply()
    }
    if ipv6.valid {
        if ipv6.hop_limit <= 1 {
            ttl_expired.count()
            drop
        }
        routes6.apply()
    }
    // ARP, LLDP and the like are for the host.
    pass
}
