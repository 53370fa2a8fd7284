// expect: E0401
// Parsing begins at the state named `start`.
header eth { dst: u48, src: u48, ethertype: u16 }

parser p {
    state begin {
        extract eth
        accept
    }
}

control c(xdp) { pass }
