// expect: E0204 E0204 E0204
// Misspelled header field, undeclared metadata, unknown `pkt` property.
import std.net

meta { seen: u32 }

control c(xdp) {
    if ipv4.valid && ipv4.time_to_live == 0 { drop }
    meta.count = 1
    if pkt.size > 1500 { drop }
    pass
}
