// cardinality: how many distinct sources talk to us, and how many
// distinct source-destination pairs, in 16 KiB of registers per CPU each
// (HyperLogLog, p = 14: about 0.8% standard error). Every packet passes;
// the counts are read from the control plane:
//   nflc sketch query NAME sources
//   nflc sketch query NAME pairs
// A sudden jump in sources with a flat packet rate is the signature of a
// spoofed-source flood.
import std.net

sketch sources: hyperloglog(p = 14) keyed ipv4.src
sketch pairs: hyperloglog(p = 14) keyed (ipv4.src, ipv4.dst)
sketch sources6: hyperloglog(p = 12) keyed (ipv6.src_hi, ipv6.src_lo)

control cardinality(xdp) {
    if ipv4.valid {
        sources.add()
        pairs.add()
    } else if ipv6.valid {
        sources6.add()
    }
    pass
}
