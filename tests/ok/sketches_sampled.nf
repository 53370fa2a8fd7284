// A top-k (a count-min plus an LRU set of candidate keys), queried per
// packet, and a NitroSketch sampling one row update in four.
import std.net

sketch heavy: topk(k = 10, rows = 3, cols = 512) keyed ipv4.src
sketch flows: nitro(rows = 3, cols = 256, p = 0.25) keyed (ipv4.src, ipv4.dst)

control c(xdp) {
    if !ipv4.valid { pass }
    heavy.add()
    flows.add(pkt.len as u32)
    if heavy.query() > 1000 { drop }
    pass
}
