// An MPLS label stack parsed with a bounded loop: the loop extracts into a
// stack of 4, so it can run at most 4 times; a fifth label takes the
// default `overflow pass` (the packet passes, the control does not run).
header eth {
    dst: u48
    src: u48
    ethertype: u16
}

header mpls[4] {
    label: u20
    tclass: u3
    bos: u1
    ttl: u8
}

parser mpls_parse {
    state start {
        extract eth
        select eth.ethertype {
            0x8847: labels
            _: accept
        }
    }
    state labels {
        extract mpls
        select mpls.last.bos {
            0: labels
            1: accept
        }
    }
}

control lsr(xdp) {
    if !mpls[0].valid { pass }
    if mpls[0].label < 16 { drop }      // reserved labels
    if mpls[0].ttl <= 1 { drop }
    mpls[0].ttl -= 1
    if mpls[1].valid && mpls[1].label == 3 { drop }
    tx
}
