// static_filter: drop traffic by fixed rules on protocol, ports and
// address ranges. Everything here is a constant, so each rule compiles to
// a handful of compares; no maps, no lookups.
import std.net

// Sources we never accept traffic from.
const BLOCKED_NET_PREFIX = 198.19.128.0
const SERVICE_NET = 198.18.0.0

// UDP ports of a game server range we refuse.
const GAME_LO: u16 = 27000
const GAME_HI: u16 = 27050

control static_filter(xdp) {
    // Truncated or malformed headers never reach the host.
    if pkt.rejected { drop }

    if ipv4.valid {
        if ipv4.src in 198.19.128.0/17 { drop }
        if ipv4.ttl <= 1 { drop }
        if udp.valid && udp.dst_port in GAME_LO..=GAME_HI { drop }
        if tcp.valid {
            // Telnet, NetBIOS and SMB from anywhere outside 198.18.0.0/16.
            if tcp.dst_port in {23, 137..=139, 445} && !(ipv4.src in 198.18.0.0/16) { drop }
            // SYN+FIN is never legitimate.
            if tcp.flags & (TCP_SYN | TCP_FIN) == TCP_SYN | TCP_FIN { drop }
        }
    }
    if ipv6.valid && ipv6.hop_limit == 0 { drop }
    pass
}
