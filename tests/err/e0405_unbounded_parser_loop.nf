// expect: E0405
// `opt` loops to itself with only `skip`: nothing bounds the loop.
header eth { dst: u48, src: u48, ethertype: u16 }
header tlv { kind: u8, len: u8 }

parser p {
    state start {
        extract eth
        extract tlv
        goto opt
    }
    state opt {
        skip 2
        select eth.ethertype {
            0x88b5: opt
            _: accept
        }
    }
}

control c(xdp) { pass }
