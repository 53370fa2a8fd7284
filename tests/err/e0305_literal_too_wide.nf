// expect: E0305 E0305
// 300 does not fit in u8; 0x1_0000 does not fit in a u16 constant.
import std.net

const PORT: u16 = 0x1_0000

control c(xdp) {
    if ipv4.valid && ipv4.ttl > 300 { drop }
    pass
}
