// Malformed packets: those that got at least an Ethernet header are dropped,
// the rest aborted (so they show in the xdp_exception tracepoint); runts drop.
import std.net

control strict(xdp) {
    if pkt.rejected {
        if ethernet.valid { drop }
        abort
    }
    if pkt.len < 60 { drop }
    pass
}
