// expect: E0331 E0331 E0331
// Sizes out of range: a table, a counter and a map.
import std.net

action a() { pass }

table t {
    key { ipv4.src: exact }
    actions { a }
    size 0
}

counter hits[0]
map m: u32 -> u64 size 100000000

control c(xdp) { pass }
