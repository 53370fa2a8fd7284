// Counters: a single one, an array indexed by a constant, by a narrow
// field and by a 64-bit value (which can be out of range).
import std.net

counter total
counter by_proto[256]
counter by_len_bucket[16]
counter odd[4]

control c(xdp) {
    total.count()
    if !ipv4.valid { pass }
    by_proto[ipv4.protocol].count()
    by_len_bucket[pkt.len >> 7].count()
    if ipv6.valid { odd[ipv6.src_lo].count() }
    by_proto[0].count()
    pass
}
