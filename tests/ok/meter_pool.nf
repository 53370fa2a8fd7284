// Meters (keyed by a tuple, and unkeyed) and a pool with `take` in
// `let ... else` and `give`.
import std.net

config { rate: u32 = 100 }

meter per_flow: token_bucket(rate = config.rate as u64, burst = 20, size = 1024) keyed (ipv4.src, udp.src_port)
meter global: token_bucket(rate = 10000, burst = 10000)
pool ports: ports(first = 40000, last = 40099)

control c(xdp) {
    if !ipv4.valid || !udp.valid { pass }
    if !global.take(1) { drop }
    if !per_flow.take(pkt.len as u64) { drop }
    if udp.dst_port == 9 {
        let p = ports.take() else { drop }
        udp.src_port = p
        ports.give(p)
    }
    pass
}
