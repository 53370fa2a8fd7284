// expect: E0404
// A state must end with accept, reject, goto or select.
header eth { dst: u48, src: u48, ethertype: u16 }

parser p {
    state start {
        extract eth
    }
}

control c(xdp) { pass }
