// `overflow accept`: a QinQ stack of two tags; a third tag stops the parse
// as if accepted, and the control runs on the two tags it has (the third
// stays unparsed, so IPv4 behind it is not valid).
header eth {
    dst: u48
    src: u48
    ethertype: u16
}

header tag[2] {
    tci: u16
    ethertype: u16
}

header ip4 {
    ver_ihl: u8
    tos: u8
    len: u16
    id: u16
    frag: u16
    ttl: u8
    proto: u8
    csum: u16
    src: u32
    dst: u32
}

parser qinq overflow accept {
    state start {
        extract eth
        select eth.ethertype {
            0x8100 | 0x88a8: tags
            0x0800: v4
            _: accept
        }
    }
    state tags {
        extract tag
        select tag.last.ethertype {
            0x8100 | 0x88a8: tags
            0x0800: v4
            _: accept
        }
    }
    state v4 {
        extract ip4
        accept
    }
}

control c(xdp) {
    if pkt.rejected { abort }
    if ip4.valid { pass }
    if tag[1].valid { tx }
    drop
}
