// Hand-placed stages: the control runs as four programs chained by tail
// calls (the statements before the first `stage`, each `stage` block, the
// `tx` after the last). Each stage re-runs the parser; `meta.class` and
// the top-level `let ttl` travel between stages in the scratch map.
import std.net

meta {
    class: u8
}

counter by_class[4]

control staged(xdp) {
    if !ipv4.valid { pass }
    let ttl = ipv4.ttl
    stage {
        if ipv4.protocol == IPPROTO_TCP { meta.class = 1 }
        if ipv4.protocol == IPPROTO_UDP { meta.class = 2 }
    }
    stage {
        by_class[meta.class].count()
        if ttl <= 1 { drop }
        if udp.valid && udp.dst_port == 53 { drop }
        ipv4.ttl = ttl - 1
        ipv4.checksum += 0x0100
    }
    tx
}
