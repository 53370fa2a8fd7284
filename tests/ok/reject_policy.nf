// Malformed packets: truncated headers are aborted (so they show in the
// xdp_exception tracepoint), bad IPv4 versions are dropped.
import std.net

control strict(xdp) {
    if pkt.rejected {
        if ethernet.valid { drop }
        abort
    }
    if pkt.len < 60 { drop }
    pass
}
