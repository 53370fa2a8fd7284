// Ternary and range keys: a tuple-space classifier. Static, more than 8
// entries; ranges expand into prefixes, and the mask bound is what the
// entries need.
import std.net

meta { dport: u16 }

counter hits[3]

action allow() { hits[0].count() }
action deny() {
    hits[1].count()
    drop
}
action mark(dscp: u6) { ipv4.dscp = dscp }

table acl {
    key {
        ipv4.src: ternary
        ipv4.protocol: ternary
        meta.dport: range
    }
    actions { allow, deny, mark }
    default deny
    entries {
        (198.18.0.0/24, 6, 22): allow
        (198.18.0.0/15, 6, 80): allow
        (198.18.0.0/15, 6, 443): allow
        (_, 17, 53): allow
        (_, 17, 1024..=65535): mark(10)
        (0x0a000001 &&& 0xff0000ff, _, _): deny
        (_, 1, _): allow
        (_, 6, 8000..8100): allow
        (198.19.0.0/16, _, 0..=1023): deny
        (_, 89, _): allow
    }
}

control c(xdp) {
    if !ipv4.valid { pass }
    if tcp.valid { meta.dport = tcp.dst_port }
    if udp.valid { meta.dport = udp.dst_port }
    acl.apply()
    hits[2].count()
    pass
}
