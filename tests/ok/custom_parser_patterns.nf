// A hand-written parser for an encapsulation with odd-width fields,
// exercising every kind of select pattern and `skip`.
header outer {
    kind: u4
    flags: u3
    has_opt: u1
    opt_words: u8
    tag: u16
    addr: u32
}

header inner {
    ver: u2
    class: u6
    port: u16
    pad: u8
}

parser encap {
    state start {
        extract outer
        select (outer.has_opt, outer.kind) {
            (1, _): options
            (0, 1) | (0, 2): payload
            (0, 8..16): payload
            _: reject
        }
    }
    state options {
        skip (outer.opt_words as u16) * 4
        goto payload
    }
    state payload {
        select outer.addr {
            10.0.0.0/8: accept
            0xc0a80000 &&& 0xffff0000: accept
            0..0x01000000: reject
            _: parse_inner
        }
    }
    state parse_inner {
        extract inner
        accept
    }
}

control c(xdp, encap) {
    if pkt.rejected { drop }
    if inner.valid && inner.port in {22, 80, 443, 8000..=8100} { pass }
    if outer.valid && outer.tag & 0xff00 == 0x1200 { drop }
    pass
}
