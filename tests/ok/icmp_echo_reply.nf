// Answer ICMP echo requests in XDP: swap addresses, turn the request into a
// reply and fix the checksum incrementally, then transmit back.
import std.net

action swap_macs() {
    if ethernet.valid {
        let dst = ethernet.dst
        ethernet.dst = ethernet.src
        ethernet.src = dst
    }
}

control echo(xdp) {
    if !icmp.valid || !ipv4.valid { pass }
    if icmp.type != 8 || icmp.code != 0 { pass }
    swap_macs()
    let src: u32 = ipv4.src
    ipv4.src = ipv4.dst
    ipv4.dst = src
    icmp.type = 0
    // Type 8 -> 0 lowers the checksummed sum by 0x0800.
    icmp.checksum += 0x0800
    tx
}
