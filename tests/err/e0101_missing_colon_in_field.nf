// expect: E0101
// A header field without its `:` before the type.
header eth {
    dst u48
    src: u48
    ethertype: u16
}

control c(xdp) { pass }
