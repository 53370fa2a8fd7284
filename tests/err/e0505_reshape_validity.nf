// expect: E0505 E0505 E0505
// Popping a stack that may be empty, removing a header not known valid,
// and inserting a header that one path has already inserted.
import std.net

header tunnel {
    id: u32
}

control c(xdp) {
    vlan.pop()
    tcp.set_invalid()
    if pkt.len > 100 { tunnel.set_valid() }
    tunnel.set_valid()
    pass
}
