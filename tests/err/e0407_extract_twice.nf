// expect: E0407
// `ip` has one instance; the `again` path extracts it a second time.
header eth { dst: u48, src: u48, ethertype: u16 }
header ip { version: u4, ihl: u4, proto: u8 }

parser p {
    state start {
        extract eth
        extract ip
        select ip.proto { 4: again, _: accept }
    }
    state again {
        extract ip
        accept
    }
}

control c(xdp) { pass }
