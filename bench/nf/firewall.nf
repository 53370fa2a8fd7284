// firewall: a 5-tuple ACL, specialized. The rules come from firewall.yaml;
// with no `size` the table is fixed at build time, and with at most 8
// entries nflc compiles it into compares. The config flag folds into code.
// Its unspecialized twin is firewall_dyn.nf. C twin: bench/c/firewall.c.
import std.net

config {
    // Drop IPv4 fragments other than the first (they carry no ports).
    drop_fragments: bool = true
}

meta {
    sport: u16
    dport: u16
}

action allow() { pass }
action deny() { drop }

table acl {
    key {
        ipv4.src: ternary
        ipv4.dst: ternary
        ipv4.protocol: ternary
        meta.sport: range
        meta.dport: range
    }
    actions { allow, deny }
    default allow
}

control firewall(xdp) {
    if pkt.rejected { drop }
    if !ipv4.valid { pass }
    if config.drop_fragments && ipv4.frag_offset != 0 { drop }
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
