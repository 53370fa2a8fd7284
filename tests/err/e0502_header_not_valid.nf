// expect: E0502 E0502 E0502
// Reading `tcp` after checking `udp`, reading `ipv4` on the `||` side where
// it is known invalid, and writing `ipv4` with no check at all.
import std.net

control c(xdp) {
    if udp.valid && tcp.dst_port == 80 { drop }
    if ipv4.valid || ipv4.ttl == 0 { drop }
    ipv4.ttl = 64
    pass
}
