// Twelve header fields live at once, more than eBPF's ten registers hold:
// the register allocator must spill some (packet pointers included) to the
// stack and reload them. The verdict depends on all twelve.
import std.net

const EXPECTED: u32 = 0x0004_1234

control pressure(xdp) {
    if !ethernet.valid || !ipv4.valid || !udp.valid { pass }
    let a = ipv4.ttl as u32
    let b = ipv4.protocol as u32
    let c = ipv4.id as u32
    let d = ipv4.total_len as u32
    let e = udp.src_port as u32
    let f = udp.dst_port as u32
    let g = udp.len as u32
    let h = udp.checksum as u32
    let i = ipv4.src >> 16
    let j = ipv4.src & 0xffff
    let k = ipv4.dst >> 16
    let l = ipv4.dst & 0xffff
    let mixed = ((a ^ b) + (c ^ d) + (e ^ f)) * 3 + (g ^ h) + (i ^ j) * 5 + (k ^ l)
    if mixed == EXPECTED { drop }
    if (a + b + c + d + e + f + g + h + i + j + k + l) & 0xff == 0x5a { tx }
    pass
}
