// expect: E0333 E0333 E0333
// Methods that do not exist: on a table, a counter, a map.
import std.net

action a() { pass }

table t {
    key { ipv4.src: exact }
    actions { a }
}

counter hits
map m: u32 -> u64

control c(xdp) {
    if !ipv4.valid { pass }
    t.lookup()
    hits.increment()
    m.clear()
    pass
}
