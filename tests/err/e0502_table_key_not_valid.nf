// expect: E0502
// A table applied where the header its key reads may not be valid.
import std.net

action a() { pass }

table t {
    key { tcp.dst_port: exact }
    actions { a }
}

control c(xdp) {
    if ipv4.valid { t.apply() }
    pass
}
