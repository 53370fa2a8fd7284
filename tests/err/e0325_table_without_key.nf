// expect: E0325 E0325
// A table without a key, and one without actions.
import std.net

action a() { pass }

table no_key {
    actions { a }
}

table no_actions {
    key { ipv4.dst: exact }
}

control c(xdp) { pass }
