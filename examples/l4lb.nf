// l4lb: a Katran-style layer-4 load balancer.
//
// A packet to a VIP (address, protocol, port; table `vips` for IPv4,
// `vips6` for IPv6, both filled from l4lb.yaml) belongs to a backend
// group. A new flow gets a backend by Maglev consistent hashing over the
// group (`pool backends`, 65,537 slots per group, built by nflc when it
// loads or reloads the program); the choice is remembered in a
// connection-tracking LRU, so an established flow keeps its backend when
// the group changes, unless its backend left the group. The packet is
// then encapsulated towards the backend — IP-in-IP (IPv4 in IPv4, or IPv6
// in IPv4: protocol 4 or 41) or, with `gue: true`, GUE over UDP port 6080
// — and sent back out of the interface it came in on, to `next_hop`.
// The backend decapsulates (the kernel's ipip/sit or fou devices) and
// answers the client directly. Everything that is not for a VIP passes.
import std.net

config {
    // The balancer's own address: the outer source.
    self_addr: u32 = 198.18.0.1
    // Where encapsulated packets go (the router, or the backends' link).
    next_hop: u48 = 02:00:00:00:00:fe
    // GUE (UDP 6080) instead of IP-in-IP.
    gue: bool = false
}

meta {
    group: u16      // the VIP's backend group + 1 (0: not a VIP)
    sport: u16
    dport: u16
    backend: u32
    inner: u16      // the inner packet's length
    proto: u8       // what the outer header carries: 4 or 41
}

// The outer headers, inserted after Ethernet (and any VLAN tags).
header outer_ipv4 {
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

header outer_udp {
    src_port: u16
    dst_port: u16
    len: u16
    checksum: u16
}

// GUE version 0, no options: `hlen` 0, `proto` the inner protocol.
header gue {
    ver_c_hlen: u8
    proto: u8
    flags: u16
}

action to_group(g: u16) { meta.group = g + 1 }

// A flow the table has not seen, or whose backend left its group.
action new_flow(b: u32) {
    if meta.backend != 0 { stats[2].count() } else { stats[0].count() }
    meta.backend = b
}

table vips {
    key {
        ipv4.dst: exact
        ipv4.protocol: exact
        meta.dport: exact
    }
    actions { to_group }
    size 1024
}

table vips6 {
    key {
        (ipv6.dst_hi, ipv6.dst_lo): exact
        ipv6.next_header: exact
        meta.dport: exact
    }
    actions { to_group }
    size 1024
}

pool backends: maglev(groups = 16, members = 64) of u32

// Established flows: 5-tuple -> backend (IPv6 addresses folded to 64 bits
// each, which is enough to tell flows apart for a cache).
map conns: (u32, u32, u16, u16, u8) -> u32 size 262144 idle 300s
map conns6: (u64, u64, u16, u16, u8) -> u32 size 262144 idle 300s

counter stats[4]    // 0 new flows, 1 tracked, 2 re-picked, 3 no backend

control l4lb(xdp) {
    // A program that reshapes tests each header it uses.
    if !ethernet.valid { pass }
    if tcp.valid {
        meta.sport = tcp.src_port
        meta.dport = tcp.dst_port
    } else if udp.valid {
        meta.sport = udp.src_port
        meta.dport = udp.dst_port
    } else {
        pass
    }
    if ipv4.valid {
        vips.apply()
        if meta.group == 0 { pass }
        meta.backend = conns[ipv4.src, ipv4.dst, meta.sport, meta.dport, ipv4.protocol]
        if meta.backend == 0 || !backends.has(meta.group - 1, meta.backend) {
            let b = backends.pick(meta.group - 1, ipv4.src, ipv4.dst, meta.sport, meta.dport, ipv4.protocol) else {
                stats[3].count()
                drop
            }
            new_flow(b)
            conns[ipv4.src, ipv4.dst, meta.sport, meta.dport, ipv4.protocol] = b
        } else {
            stats[1].count()
        }
        meta.inner = ipv4.total_len
        meta.proto = 4
    } else if ipv6.valid {
        vips6.apply()
        if meta.group == 0 { pass }
        let hi = ipv6.src_hi ^ ipv6.src_lo
        let lo = ipv6.dst_hi ^ ipv6.dst_lo
        meta.backend = conns6[hi, lo, meta.sport, meta.dport, ipv6.next_header]
        if meta.backend == 0 || !backends.has(meta.group - 1, meta.backend) {
            let b = backends.pick(meta.group - 1, hi, lo, meta.sport, meta.dport, ipv6.next_header) else {
                stats[3].count()
                drop
            }
            new_flow(b)
            conns6[hi, lo, meta.sport, meta.dport, ipv6.next_header] = b
        } else {
            stats[1].count()
        }
        meta.inner = ipv6.payload_len + 40
        meta.proto = 41
    } else {
        pass
    }
    // Encapsulate towards the backend: the outer headers go in together,
    // right after the link layer, in the order they are declared.
    if config.gue {
        outer_ipv4.set_valid()
        outer_udp.set_valid()
        gue.set_valid()
        outer_ipv4.protocol = 17
        outer_ipv4.total_len = meta.inner + 32
        // The source port spreads flows over the backend's receive queues.
        outer_udp.src_port = (meta.sport ^ meta.dport) | 0x8000
        outer_udp.dst_port = 6080
        outer_udp.len = meta.inner + 12
        gue.proto = meta.proto
    } else {
        outer_ipv4.set_valid()
        outer_ipv4.protocol = meta.proto
        outer_ipv4.total_len = meta.inner + 20
    }
    outer_ipv4.version = 4
    outer_ipv4.ihl = 5
    outer_ipv4.ttl = 64
    outer_ipv4.src = config.self_addr
    outer_ipv4.dst = meta.backend
    outer_ipv4.update_checksum()
    // The link layer now carries IPv4 (it carried IPv6 for an IPv6 VIP).
    if vlan[1].valid {
        vlan[1].ethertype = 0x0800
    } else if vlan[0].valid {
        vlan[0].ethertype = 0x0800
    } else {
        ethernet.ethertype = 0x0800
    }
    ethernet.src = ethernet.dst
    ethernet.dst = config.next_hop
    tx
}
