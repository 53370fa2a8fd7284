// expect: E0313
// An entry with three patterns for a table with two keys.
import std.net

action a() { pass }

table t {
    key {
        ipv4.src: exact
        ipv4.dst: exact
    }
    actions { a }
    entries {
        (198.18.0.1, 198.18.0.2, 6): a
    }
}

control c(xdp) {
    if ipv4.valid { t.apply() }
    pass
}
