// expect: E0326
// A table key that reads a config value.
import std.net

config { salt: u32 = 7 }

action a() { pass }

table t {
    key { ipv4.src ^ config.salt: exact }
    actions { a }
}

control c(xdp) {
    if ipv4.valid { t.apply() }
    pass
}
