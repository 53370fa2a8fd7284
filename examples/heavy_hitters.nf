// heavy_hitters: count the bytes each IPv4 source sends in a count-min
// sketch and drop a source once its estimate passes a threshold; keep the
// sources seen in a candidate set so the control plane can rank the top
// 20 (`nflc sketch top NAME talkers`, and the live view of `nflc run`). The
// sketch never undercounts, so no source over the threshold slips
// through; it may overcount by at most eps·N bytes (N: all bytes seen)
// with probability 1 - delta, which can only stop a source early.
//
// `nflc build examples/heavy_hitters.nf --explain` (with heavy_hitters.yaml):
//   sketch talkers: top-20, a count-min of 5 rows × 32768 u32 counters
//     (640 KiB, atomic adds; overestimates by at most 8.296e-5·N with
//     probability 0.9933) and an LRU hash of 1280 candidate keys
//
// Read it while it runs: `nflc sketch query NAME talkers 198.18.0.1`.
// Counters only grow: reload with a fresh object (or a new size) to start
// a new measurement period.
import std.net

config {
    // Bytes a source may send before it is dropped.
    max_bytes: u32 = 100000000
}

sketch talkers: topk(k = 20, eps = 0.0001, delta = 0.01) keyed ipv4.src

control heavy_hitters(xdp) {
    if !ipv4.valid { pass }
    talkers.add(pkt.len as u32)
    if talkers.query() > config.max_bytes { drop }
    pass
}
