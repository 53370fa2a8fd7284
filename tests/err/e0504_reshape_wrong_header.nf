// expect: E0504 E0504 E0504
// `set_valid` inserts only headers the parser never extracts; `push` and
// `pop` are for stacks, `set_valid` and `set_invalid` for single headers.
import std.net

control c(xdp) {
    ipv4.set_valid()
    ipv4.push()
    vlan.set_invalid()
    pass
}
