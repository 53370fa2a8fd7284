// expect: E0330
// An entry's action is declared but not in the table's `actions`.
import std.net

action allow() { pass }
action deny() { drop }

table t {
    key { ipv4.src: exact }
    actions { allow }
    entries {
        198.18.0.1: deny
    }
}

control c(xdp) {
    if ipv4.valid { t.apply() }
    pass
}
