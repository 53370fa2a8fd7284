// Sketches: count-min sized by error bounds and read back per packet,
// a count sketch sized by shape over a tuple key, a Bloom filter tested
// before it is added to, one that inserts and tests at once, and a
// HyperLogLog of sources.
import std.net

config { limit: u32 = 500 }

sketch talkers: count_min(eps = 0.01, delta = 0.05) keyed ipv4.src
sketch flows: count_sketch(rows = 3, cols = 256) keyed (ipv4.src, udp.src_port, ipv4.protocol)
sketch seen: bloom(items = 1000, fp = 0.01) keyed (ipv4.src, ipv4.dst)
sketch sources: hyperloglog(p = 10) keyed ipv4.src
sketch fresh: bloom(bits = 1024, hashes = 2) keyed udp.dst_port

control c(xdp) {
    if !ipv4.valid { pass }
    talkers.add(ipv4.src, pkt.len as u32)
    sources.add()
    if udp.valid { flows.add() }
    if seen.contains() { pass }
    seen.add(ipv4.src, ipv4.dst)
    if talkers.query() > config.limit { drop }
    if udp.valid {
        if !fresh.insert() { tx }
    }
    pass
}
