// cardinality: how many distinct sources talk to us, how many distinct
// source-destination pairs, in 16 KiB of registers per CPU each
// (HyperLogLog, p = 14: about 0.8% standard error), and how many distinct
// sources talk to each destination (a HyperLogLog per destination, p = 10,
// for the 4096 most recently seen destinations). Every packet passes; the
// counts are read from the control plane:
//   nflc sketch query NAME sources
//   nflc sketch query NAME pairs
//   nflc sketch query NAME fanin 198.18.1.1     # sources of one destination
//   nflc sketch top NAME fanin -n 10            # destinations by fan-in
// A sudden jump in sources with a flat packet rate is the signature of a
// spoofed-source flood; one destination's fan-in jumping says which host
// it aims at.
import std.net

sketch sources: hyperloglog(p = 14) keyed ipv4.src
sketch pairs: hyperloglog(p = 14) keyed (ipv4.src, ipv4.dst)
sketch sources6: hyperloglog(p = 12) keyed (ipv6.src_hi, ipv6.src_lo)
sketch fanin: hyperloglog(p = 10, size = 4096) keyed ipv4.src per ipv4.dst

control cardinality(xdp) {
    if ipv4.valid {
        sources.add()
        pairs.add()
        fanin.add()
    } else if ipv6.valid {
        sources6.add()
    }
    pass
}
