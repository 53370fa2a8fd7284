// expect: E0335 E0335
// Map keys of the wrong arity and the wrong width.
import std.net

map flows: (u32, u16) -> u64

control c(xdp) {
    if !ipv4.valid || !udp.valid { pass }
    flows[ipv4.src] += 1
    flows[ipv4.src, ipv4.dst] = 1
    pass
}
