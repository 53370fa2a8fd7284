// expect: E0502 E0502
// A removed header is not valid any more, and once a program reshapes,
// `tcp.valid` no longer proves `ethernet.valid` (nor anything else).
import std.net

control c(xdp) {
    if !ipv4.valid { pass }
    ipv4.set_invalid()
    if ipv4.ttl == 1 { drop }
    if tcp.valid && ethernet.src == 0 { drop }
    tx
}
