// firewall_dyn: firewall.nf, not specialized. The same rules (from
// firewall_dyn.yaml) go into a run-time writable table (`size`), so they
// live in maps (a tuple-space classifier: ternary and range keys), and the
// flag is read from a map on every packet instead of being folded.
import std.net

// knobs[0]: drop_fragments (non-zero = true). Written by the control plane.
map knobs: u32 -> u64 size 1

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
    size 64
}

control firewall(xdp) {
    if pkt.rejected { drop }
    if !ipv4.valid { pass }
    if knobs[0] != 0 && ipv4.frag_offset != 0 { drop }
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
