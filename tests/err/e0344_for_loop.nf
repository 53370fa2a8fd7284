// expect: E0344 E0310
// A `for` loop is unrolled: its bounds are constants and it runs at most
// 64 times.
import std.net

control c(xdp) {
    for i in 0..100 { pass }
    if ipv4.valid {
        for k in 0..ipv4.ttl { pass }
    }
    pass
}
