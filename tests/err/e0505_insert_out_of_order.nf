// expect: E0505
// Headers inserted by separate resizes: each goes right after the link
// layer, so `udp_outer`, declared after `ip_outer`, would land ahead of it.
import std.net

header ip_outer {
    ver_ihl: u8
    tos: u8
    len: u16
    id: u16
    frag: u16
    ttl: u8
    proto: u8
    csum: u16
    src: u32
    dst: u32
}

header udp_outer {
    sport: u16
    dport: u16
    len: u16
    csum: u16
}

control c(xdp) {
    if !ethernet.valid { pass }
    ip_outer.set_valid()
    ip_outer.ttl = 64
    udp_outer.set_valid()
    tx
}
