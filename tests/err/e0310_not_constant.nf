// expect: E0310 E0310
// Constants and patterns must be compile-time constants.
import std.net

const LEN: u32 = pkt.len

control c(xdp) {
    if ipv4.valid && ipv4.ttl in {1, ipv4.protocol} { drop }
    pass
}
