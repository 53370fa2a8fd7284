// expect: E0324
// A set of u16 tested against a u32 field.
import std.net

config { ports: set<u16> = {22, 80} }

control c(xdp) {
    if ipv4.valid && ipv4.src in config.ports { drop }
    pass
}
