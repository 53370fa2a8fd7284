// Drop traffic from the benchmarking range and to a block of UDP ports
// (the example from docs/language.md).
import std.net

control filter(xdp) {
    if ipv4.valid && ipv4.src in 198.18.0.0/15 { drop }
    if udp.valid && udp.dst_port in 5000..=5100 { drop }
    pass
}
