// expect: E0306 E0306 E0306 E0306
// Arithmetic on a bool, `&&` on integers (both sides), an integer compared to `true`.
import std.net

control c(xdp) {
    let n = pkt.rejected + 1
    if pkt.len && 1 { drop }
    if pkt.len == true { drop }
    pass
}
