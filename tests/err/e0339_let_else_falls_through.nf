// expect: E0339 E0339
// The `else` of `let ... else` must end the program, and the value must be
// one that may be absent.
import std.net

map m: u32 -> u64

control c(xdp) {
    if !ipv4.valid { pass }
    let v = m.get(ipv4.src) else { ipv4.ttl = 1 }
    let w = ipv4.ttl else { drop }
    pass
}
