// Drop TCP SYNs to closed ports and packets with nonsense flag combinations.
import std.net

const OPEN_PORTS_LOW = 1024

control guard(xdp) {
    if !tcp.valid { pass }
    let flags = tcp.flags
    if flags & (TCP_SYN | TCP_FIN) == TCP_SYN | TCP_FIN { drop }
    if flags & TCP_SYN != 0 && flags & TCP_ACK == 0 {
        if tcp.dst_port in {22, 80, 443} { pass }
        if tcp.dst_port < OPEN_PORTS_LOW { drop }
    }
    if flags == 0 { drop }
    pass
}
