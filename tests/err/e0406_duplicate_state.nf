// expect: E0406
// Two states called `start`.
header eth { dst: u48, src: u48, ethertype: u16 }

parser p {
    state start { extract eth; accept }
    state start { reject }
}

control c(xdp) { pass }
