// expect: E0309
// An `if` condition must be a bool; write the comparison.
import std.net

control c(xdp) {
    if tcp.valid {
        if tcp.flags & TCP_SYN { drop }
    }
    pass
}
