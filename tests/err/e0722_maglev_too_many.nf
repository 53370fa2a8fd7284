// expect: E0722 E0722
// The config lists more groups, and more members in a group, than the
// pool holds.
import std.net

pool backends: maglev(groups = 1, slots = 251, members = 2) of u32

control c(xdp) {
    if !ipv4.valid { pass }
    let b = backends.pick(0, ipv4.src) else { drop }
    ipv4.dst = b
    pass
}
