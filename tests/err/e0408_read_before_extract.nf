// expect: E0408
// `tcp_like.port` is read on a path where `tcp_like` was never extracted.
header eth { dst: u48, src: u48, ethertype: u16 }
header tcp_like { port: u16, flags: u16 }

parser p {
    state start {
        extract eth
        select eth.ethertype { 0x0800: l4, _: ports }
    }
    state l4 {
        extract tcp_like
        goto ports
    }
    state ports {
        select tcp_like.port { 80: accept, _: reject }
    }
}

control c(xdp) { pass }
