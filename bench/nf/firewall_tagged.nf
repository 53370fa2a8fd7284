// firewall_tagged: the ACL of firewall.nf, with each entry's action writing
// the entry's tag (its position in the config, from 1; 0 for no match)
// into the IPv4 identification field, so a test run's output shows which
// rule won. tests/scale_firewall.rs checks 10,000 generated rules against a
// reference classifier with it.
import std.net

meta {
    sport: u16
    dport: u16
}

action allow(tag: u16) {
    ipv4.id = tag
    pass
}

action deny(tag: u16) {
    ipv4.id = tag
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
    actions { allow, deny }
    default allow(0)
}

control firewall(xdp) {
    if pkt.rejected { drop }
    if !ipv4.valid { pass }
    if tcp.valid {
        meta.sport = tcp.src_port
        meta.dport = tcp.dst_port
    } else if udp.valid {
        meta.sport = udp.src_port
        meta.dport = udp.dst_port
    }
    acl.apply()
    pass
}
