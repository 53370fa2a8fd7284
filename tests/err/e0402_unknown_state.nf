// expect: E0402
// `parse_ip4` is a typo for `parse_ipv4` (the help suggests it).
header eth { dst: u48, src: u48, ethertype: u16 }
header ip { version: u4, ihl: u4, rest: u8 }

parser p {
    state start {
        extract eth
        select eth.ethertype { 0x0800: parse_ip4, _: accept }
    }
    state parse_ipv4 { extract ip; accept }
}

control c(xdp) { pass }
