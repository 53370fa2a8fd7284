// expect: E0334 E0334
// `contains` gives a value (not a statement); `apply` gives none.
import std.net

action a() { pass }

table t {
    key { ipv4.src: exact }
    actions { a }
}

map m: u32 -> u64

control c(xdp) {
    if !ipv4.valid { pass }
    m.contains(ipv4.src)
    let x = t.apply()
    pass
}
