// expect: E0341
// A HyperLogLog's estimate is not a per-packet value.
import std.net

sketch srcs: hyperloglog(p = 12) keyed ipv4.src

control x(xdp) {
    if ipv4.valid && srcs.estimate() > 10 { drop }
    pass
}
