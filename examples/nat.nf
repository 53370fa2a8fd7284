// nat: source NAT (NAPT) for an inside network. TCP and UDP from an inside
// address to the outside leave from the public address, with a source
// port from a pool; replies to that port are translated back. Mappings
// are endpoint-independent (RFC 4787): one inside address and port keep
// one public port whatever they talk to, for as long as traffic flows.
//
// State: two maps with a 300 s idle timeout, one per direction. `nat_in`
// (public port -> inside endpoint) is the authority on who owns a port;
// `nat_out` is the fast path for outbound packets and is checked against
// it. Traffic in either direction refreshes both.
//
// Ports: the pool is a queue of free ports that the kernel pops and
// pushes atomically, so no two CPUs get the same port. A new mapping takes
// the port at the head and puts it straight back at the tail: the pool
// turns like a clock, and a port comes round again only after every other
// one has. If its previous mapping is still alive then, the port is
// skipped and the packet dropped (a SYN is retransmitted and gets the
// next port); otherwise the mapping expired and the port is free again.
// So an expired mapping never holds a port, without a sweeper.
//
// Rewrites patch the IPv4 and TCP/UDP checksums incrementally (RFC 1624
// eqn. 3): the address and port words that change are summed once into
// `meta` and applied to each checksum that covers them. The kernel routes
// the translated packet (`pass`); TTL is its business.
//
// `nflc build examples/nat.nf --explain` (with nat.yaml):
//   pool nat_ports: 4 free values 20000..=20003 in a queue map (the
//     YAML's small pool; the defaults give 10000)
//   config.public_ip, inside, port_first, port_last: from the config
//     file, folded into the code (the pool bounds too)
//   maps nat_out and nat_in: lru_hash, value 16 B (value, last-seen ns),
//     65536 entries each; 970 instructions, 384 bytes of stack
import std.net

config {
    public_ip: u32                 // no default: the YAML must give it
    inside: set<u32> = {198.18.0.0/16}
    port_first: u16 = 20000
    port_last: u16 = 29999
}

meta {
    sport: u16
    dport: u16
    // Ones' complement sums of (~old + new) over the changed words: the
    // address words (covered by both checksums), and the port word (L4).
    addr_delta: u32
    port_delta: u32
}

// The constructor takes u64 values.
pool nat_ports: ports(first = config.port_first as u64, last = config.port_last as u64)

// (inside address, inside port, protocol) -> public port
map nat_out: (u32, u16, u8) -> u16 size 65536 idle 300s
// (public port, protocol) -> inside address << 16 | inside port
map nat_in: (u16, u8) -> u48 size 65536 idle 300s

counter translated_out
counter translated_in
counter new_mappings
counter port_busy      // the pool came round to a port still in use
counter pool_empty
counter untranslatable // inside to outside, neither TCP nor UDP
counter unsolicited    // to a pool port with no mapping

action addr_changes(old: u32, new: u32) {
    meta.addr_delta += (~(old >> 16) & 0xffff) + (new >> 16)
    meta.addr_delta += (~old & 0xffff) + (new & 0xffff)
}

action port_changes(old: u16, new: u16) {
    meta.port_delta += (~old) as u32 + new as u32
}

action fix_ipv4_checksum() {
    let sum = (~ipv4.checksum) as u32 + meta.addr_delta
    let folded = (sum & 0xffff) + (sum >> 16)
    let folded2 = (folded & 0xffff) + (folded >> 16)
    ipv4.checksum = ~(folded2 as u16)
}

// The pseudo-header makes the addresses part of the L4 checksum.
action fix_l4_checksum() {
    if tcp.valid {
        let sum = (~tcp.checksum) as u32 + meta.addr_delta + meta.port_delta
        let folded = (sum & 0xffff) + (sum >> 16)
        let folded2 = (folded & 0xffff) + (folded >> 16)
        tcp.checksum = ~(folded2 as u16)
    } else if udp.valid && udp.checksum != 0 {
        // 0 means "no checksum" in UDP: leave it; a computed 0 is sent as
        // 0xffff.
        let sum = (~udp.checksum) as u32 + meta.addr_delta + meta.port_delta
        let folded = (sum & 0xffff) + (sum >> 16)
        let folded2 = (folded & 0xffff) + (folded >> 16)
        let c = ~(folded2 as u16)
        if c == 0 {
            udp.checksum = 0xffff
        } else {
            udp.checksum = c
        }
    }
}

// Outbound: the source becomes the public address and port.
action snat(port: u16) {
    addr_changes(ipv4.src, config.public_ip)
    port_changes(meta.sport, port)
    ipv4.src = config.public_ip
    if tcp.valid {
        tcp.src_port = port
    } else if udp.valid {
        udp.src_port = port
    }
    fix_ipv4_checksum()
    fix_l4_checksum()
    translated_out.count()
    pass
}

// A new mapping for the packet's inside endpoint, with the next port of
// the pool.
action new_mapping() {
    let port = nat_ports.take() else {
        pool_empty.count()
        drop
    }
    nat_ports.give(port)
    if nat_in.contains(port, ipv4.protocol) {
        port_busy.count()
        drop
    }
    nat_out[ipv4.src, meta.sport, ipv4.protocol] = port
    nat_in[port, ipv4.protocol] = (ipv4.src as u48) << 16 | meta.sport as u48
    new_mappings.count()
    snat(port)
}

control nat(xdp) {
    if pkt.rejected { drop }
    if !ipv4.valid { pass }

    if tcp.valid {
        meta.sport = tcp.src_port
        meta.dport = tcp.dst_port
    } else if udp.valid {
        meta.sport = udp.src_port
        meta.dport = udp.dst_port
    }
    let l4 = tcp.valid || udp.valid

    // Outbound: from inside to anywhere but inside.
    if ipv4.src in config.inside {
        if ipv4.dst in config.inside { pass }
        if !l4 {
            untranslatable.count()
            drop
        }
        // Port 0 is never in the pool: 0 means no mapping. A mapping must
        // still own its port (reading `nat_in` also refreshes it).
        let port = nat_out[ipv4.src, meta.sport, ipv4.protocol]
        let owner = (ipv4.src as u48) << 16 | meta.sport as u48
        if port == 0 || nat_in[port, ipv4.protocol] != owner {
            new_mapping()
        }
        snat(port)
    }

    // Inbound: replies to a pool port of the public address.
    if ipv4.dst == config.public_ip && l4 && meta.dport >= config.port_first && meta.dport <= config.port_last {
        let inside = nat_in.get(meta.dport, ipv4.protocol) else {
            unsolicited.count()
            drop
        }
        let addr = (inside >> 16) as u32
        let port = inside as u16
        // Keep the outbound half alive (or bring it back) while replies
        // flow.
        if !nat_out.contains(addr, port, ipv4.protocol) {
            nat_out[addr, port, ipv4.protocol] = meta.dport
        }
        addr_changes(ipv4.dst, addr)
        port_changes(meta.dport, port)
        ipv4.dst = addr
        if tcp.valid {
            tcp.dst_port = port
        } else if udp.valid {
            udp.dst_port = port
        }
        fix_ipv4_checksum()
        fix_l4_checksum()
        translated_in.count()
        pass
    }

    // Everything else (the box's own traffic, transit) is the kernel's.
    pass
}
