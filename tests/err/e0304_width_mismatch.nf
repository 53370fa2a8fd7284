// expect: E0304 E0304
// u16 compared with u32, and a u8 field assigned a u16 value.
import std.net

control c(xdp) {
    if !ipv4.valid || !udp.valid { pass }
    if udp.dst_port == ipv4.dst { drop }
    ipv4.ttl = udp.len
    pass
}
