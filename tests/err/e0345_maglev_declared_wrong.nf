// expect: E0345 E0345 E0345
// A maglev table size that is not prime, members that are not integers,
// and `pick` without a key.
import std.net

pool even: maglev(slots = 65536) of u32
pool flags: maglev(groups = 2) of bool

control c(xdp) {
    if !ipv4.valid { pass }
    let b = even.pick(0) else { drop }
    ipv4.dst = b
    pass
}
