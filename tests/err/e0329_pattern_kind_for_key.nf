// expect: E0329 E0329
// Entry patterns the keys' match kinds do not take: a mask that is not a
// prefix for an lpm key, a mask for a range key.
import std.net

action a() { pass }

table t {
    key {
        ipv4.protocol: exact
        ipv4.dst: lpm
        udp.dst_port: range
    }
    actions { a }
    entries {
        (6, 198.0.0.0 &&& 255.0.255.0, 53): a
        (17, 198.18.0.0/15, 0x0800 &&& 0xff00): a
    }
}

control c(xdp) {
    if ipv4.valid && udp.valid { t.apply() }
    pass
}
