// expect: E0313
// Two keys, but the first case gives three patterns.
import std.net

parser p {
    state start {
        extract ethernet
        extract ipv4
        select (ipv4.version, ipv4.ihl) {
            (4, 5, 0): accept
            _: reject
        }
    }
}

control c(xdp, p) { pass }
