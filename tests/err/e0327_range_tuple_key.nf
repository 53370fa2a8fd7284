// expect: E0327
// A range key over two fields.
import std.net

action a() { pass }

table t {
    key { (tcp.src_port, tcp.dst_port): range }
    actions { a }
}

control c(xdp) {
    if tcp.valid { t.apply() }
    pass
}
