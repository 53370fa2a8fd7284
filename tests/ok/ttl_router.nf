// A tiny router step: drop expiring packets, decrement the TTL and patch
// the checksum incrementally, forward everything else unchanged.
import std.net

const MIN_TTL = 1

control route(xdp) {
    if !ipv4.valid { pass }
    if ipv4.ttl <= MIN_TTL {
        drop
    } else if ipv4.ttl == 255 {
        // Locally generated with the maximum TTL: leave it alone.
        pass
    } else {
        ipv4.ttl -= 1
        // TTL is the high byte of its 16-bit checksum word.
        ipv4.checksum += 0x0100
    }
    tx
}
