// expect: E0101 E0101 E0101
// Three independent mistakes in one control: each is reported, not just
// the first.
import std.net

control c(xdp) {
    if pkt.rejected { drop }
    let limit = 64
    ipv4.ttl == 1
    if ipv4.valid {
        ipv4.ttl -= 1
        redirect(1 2)
    }
    let = 5
    pass
}
