// expect: E0503
// `pkt.offset` is the parser's position: the control has none.
import std.net

control c(xdp) {
    if pkt.offset > 100 { drop }
    pass
}
