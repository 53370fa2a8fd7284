// expect: E0307 E0307 E0307 E0307
// Constants, `let` bindings, `.valid` and `pkt.*` cannot be assigned.
import std.net

const LIMIT: u32 = 100

control c(xdp) {
    LIMIT = 5
    let x = pkt.len
    x = 3
    ipv4.valid = true
    pkt.len = 0
    pass
}
