// rewrite: a UDP echo reflector. A datagram to port 7 goes back where it
// came from: MACs, addresses and ports swapped, TTL reset to 64 with an
// incremental header checksum update (RFC 1624), sent back out with `tx`.
// Swapping addresses and ports leaves both checksums unchanged, since the
// ones' complement sum does not depend on order.
import std.net

const ECHO_PORT: u16 = 7
const NEW_TTL: u8 = 64

action swap_macs() {
    let tmp = ethernet.dst
    ethernet.dst = ethernet.src
    ethernet.src = tmp
}

// Set the TTL and patch the checksum: HC' = ~(~HC + ~m + m'), where m is
// the 16-bit word holding TTL and protocol.
action set_ttl(ttl: u8) {
    let old_word = (ipv4.ttl as u32) << 8 | ipv4.protocol as u32
    let new_word = (ttl as u32) << 8 | ipv4.protocol as u32
    let sum = (~ipv4.checksum) as u32 + (~old_word & 0xffff) + new_word
    let folded = (sum & 0xffff) + (sum >> 16)
    let folded2 = (folded & 0xffff) + (folded >> 16)
    ipv4.checksum = ~(folded2 as u16)
    ipv4.ttl = ttl
}

control rewrite(xdp) {
    if ipv4.valid && udp.valid && udp.dst_port == ECHO_PORT {
        swap_macs()
        let src = ipv4.src
        ipv4.src = ipv4.dst
        ipv4.dst = src
        udp.dst_port = udp.src_port
        udp.src_port = ECHO_PORT
        set_ttl(NEW_TTL)
        tx
    }
    pass
}
