// A map with a tuple key and an idle timeout: read (absent = 0), compound
// assignment, `contains`, `remove` and `let ... else` on `get`.
import std.net

map flows: (u32, u32, u16, u8) -> u64 size 16384 idle 30s
map blocked: u32 -> u8 size 1024 idle 5m

control c(xdp) {
    if !ipv4.valid || !tcp.valid { pass }
    if blocked.contains(ipv4.src) { drop }
    if tcp.flags & TCP_RST != 0 {
        flows.remove(ipv4.src, ipv4.dst, tcp.src_port, ipv4.protocol)
        pass
    }
    flows[ipv4.src, ipv4.dst, tcp.src_port, ipv4.protocol] += 1
    let n = flows.get(ipv4.src, ipv4.dst, tcp.src_port, ipv4.protocol) else { pass }
    if n > 100000 {
        blocked[ipv4.src] = 1
        drop
    }
    pass
}
