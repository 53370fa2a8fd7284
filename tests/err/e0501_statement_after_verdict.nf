// expect: E0501
// Nothing runs after `drop`.
import std.net

control c(xdp) {
    if ipv4.valid {
        drop
        ipv4.ttl = 1
    }
    pass
}
