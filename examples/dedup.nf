// dedup: drop UDP datagrams already seen, as when a redundant path (a
// mirrored link, a retransmitting sensor) delivers each one twice. A Bloom
// filter remembers every datagram by its addresses, ports, length and UDP
// checksum, which stands in for a hash of the payload: two datagrams that
// differ anywhere in their payload almost always differ in checksum.
//
// A Bloom filter has no false negatives (a duplicate is always dropped)
// and a small rate of false positives (a new datagram is dropped as if
// seen), which `--explain` states for the expected number of datagrams:
//   sketch seen: Bloom filter, 16777216 bits (2 MiB, one array value,
//     atomic ors), 12 hashes
//   sketch seen: 3.16e-4 false positives expected at 1000000 items
// `insert` sets the datagram's bits and tells whether one was still clear
// (a new datagram), hashing once where `contains` then `add` would hash
// twice. The filter only fills up: reload to start over.
import std.net

sketch seen: bloom(items = 1000000, fp = 0.001)
    keyed (ipv4.src, ipv4.dst, udp.src_port, udp.dst_port, udp.len, udp.checksum)

control dedup(xdp) {
    if !ipv4.valid || !udp.valid { pass }
    if !seen.insert() { drop }
    pass
}
