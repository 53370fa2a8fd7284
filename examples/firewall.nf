// firewall: a stateless 5-tuple ACL. Every IPv4 packet is looked up in
// `acl` by source and destination address (ternary: a prefix or any
// value/mask), protocol (ternary used as "exact or wildcard") and the L4
// source and destination ports (ranges). The rules come from
// firewall.yaml and can be changed at run time (the table has a `size`);
// the first rule listed that matches wins, and a packet no rule matches
// gets the default action, `no_match` (counted, then dropped).
//
// `nflc build examples/firewall.nf --explain` (with firewall.yaml):
//   table acl: tuple-space classifier, 64 mask slots walked in priority
//     order, rules in hash map `acl_rules` (1024 entries max); 10 entries
//     at build (1 from the source, 9 from the YAML), writable at run time
//   config.allow_ipv6 = 0 (from the config file), folded into the code
//   maps: acl_rules, acl_masks, acl_stats (hits, misses), one per-CPU
//   array per counter; 338 instructions (the mask walk is a loop)
import std.net

config {
    // IPv6 is not filtered by this ACL: either all of it passes or none.
    allow_ipv6: bool = false
}

// The L4 ports, filled from TCP or UDP before the lookup. Other protocols
// (ICMP, OSPF, ...) and non-first fragments leave them 0.
meta {
    sport: u16
    dport: u16
}

// One counter per action (packets and bytes, per CPU).
counter permitted
counter denied
counter defaulted
counter non_ipv4

action allow() {
    permitted.count()
    pass
}

action deny() {
    denied.count()
    drop
}

// The default action counts separately from the rules that deny, so the
// control plane can tell "blocked by a rule" from "matched nothing".
action no_match() {
    defaulted.count()
    drop
}

table acl {
    key {
        ipv4.src: ternary
        ipv4.dst: ternary
        ipv4.protocol: ternary
        meta.sport: range
        meta.dport: range
    }
    actions { allow, deny, no_match }
    default no_match
    size 1024
    masks 64
    // Rules in the source come before the config file's. This one keeps
    // the management network's SSH open whatever firewall.yaml says.
    entries {
        (198.18.255.0/24, _, 6, _, 22): allow
    }
}

control firewall(xdp) {
    // Truncated or malformed headers are never let through.
    if pkt.rejected { drop }

    if !ipv4.valid {
        non_ipv4.count()
        if ipv6.valid && !config.allow_ipv6 { drop }
        // ARP and other L2 protocols pass: IPv4 does not work without ARP.
        pass
    }

    if tcp.valid {
        meta.sport = tcp.src_port
        meta.dport = tcp.dst_port
    } else if udp.valid {
        meta.sport = udp.src_port
        meta.dport = udp.dst_port
    }
    acl.apply()
    // Every action ends in a verdict; this is not reached.
    drop
}
