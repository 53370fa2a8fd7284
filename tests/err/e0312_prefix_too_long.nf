// expect: E0312
// An IPv4 address has 32 bits; /33 is longer than the key.
import std.net

control c(xdp) {
    if ipv4.valid && ipv4.dst in 198.18.0.0/33 { drop }
    pass
}
