// expect: E0311 E0311
// 0x1_0000 is wider than the u16 key; the mask does not cover the value.
import std.net

parser p {
    state start {
        extract ethernet
        select ethernet.ethertype {
            0x1_0000: accept
            0x0801 &&& 0xff00: accept
            _: accept
        }
    }
}

control c(xdp, p) { pass }
