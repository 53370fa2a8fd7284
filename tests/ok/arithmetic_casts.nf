// Arithmetic, bitwise operators and casts on fields of different widths.
import std.net

meta {
    hash: u32
    bucket: u8
}

control mix(xdp) {
    if !ipv4.valid || !udp.valid { pass }
    let ports = (udp.src_port as u32) << 16 | udp.dst_port as u32
    meta.hash = ipv4.src ^ ipv4.dst ^ ports
    meta.hash ^= meta.hash >> 16
    meta.hash = meta.hash * 0x45d9f3b
    meta.bucket = (meta.hash % 251) as u8
    let header_bytes = (ipv4.ihl as u16) * 4
    if ipv4.total_len - header_bytes < 8 { drop }
    let inverted = ~udp.checksum
    if inverted == 0 { pass }
    if -(meta.bucket) == 1 { drop }
    if (ipv4.dscp as u8) / 8 == 5 { pass }
    pass
}
