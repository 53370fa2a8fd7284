// nitro_monitor: per-flow byte counts for every 5-tuple in a NitroSketch,
// a count sketch that updates each of its rows only with probability p and
// then adds n/p: at p = 1/8 a packet touches 5/8 of a row on average, and
// most packets hash nothing at all. The gaps between sampled row updates
// come from a pool of geometric variates filled when the program loads (no
// per-packet random numbers), read by a per-CPU cursor.
//
// `nflc build examples/nitro_monitor.nf --explain`:
//   sketch flows: NitroSketch, 5 rows × 32768 i32 counters (640 KiB,
//     atomic adds); each row update sampled with p = 1/8 from a pool of
//     geometric gaps (per-CPU cursor), adding ±8·n
//
// Every packet passes. Read a flow's estimate (the median of its rows):
//   nflc sketch query NAME flows 198.18.0.1 198.18.1.1 6 40000 443
import std.net

meta {
    sport: u16
    dport: u16
}

sketch flows: nitro(eps = 0.01, delta = 0.01, p = 0.125)
    keyed (ipv4.src, ipv4.dst, ipv4.protocol, meta.sport, meta.dport)

control nitro_monitor(xdp) {
    if !ipv4.valid { pass }
    if tcp.valid {
        meta.sport = tcp.src_port
        meta.dport = tcp.dst_port
    } else if udp.valid {
        meta.sport = udp.src_port
        meta.dport = udp.dst_port
    }
    flows.add(pkt.len as u32)
    pass
}
