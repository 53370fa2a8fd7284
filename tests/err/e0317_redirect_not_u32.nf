// expect: E0317
// `redirect` takes a u32 interface index; a u16 port is not one.
import std.net

control c(xdp) {
    if udp.valid { redirect(udp.dst_port) }
    pass
}
