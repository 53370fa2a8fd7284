// expect: E0403
// No transition leads to `parse_arp`.
header eth { dst: u48, src: u48, ethertype: u16 }
header arp_hdr { op: u16 }

parser p {
    state start {
        extract eth
        accept
    }
    state parse_arp {
        extract arp_hdr
        accept
    }
}

control c(xdp) { pass }
