// expect: E0102
// The `if` block is never closed.
import std.net

control c(xdp) {
    if ipv4.valid && ipv4.ttl == 0 {
        drop
    pass
