// expect: E0342
// Fractions size sketches; they are not values.
import std.net

control x(xdp) {
    if ipv4.valid && ipv4.ttl > 0.5 { drop }
    pass
}
