// expect: E0202
// The same parameter declared in two config blocks.
config { mtu: u16 = 1500 }
config { mtu: u16 = 9000 }

control c(xdp) {
    if pkt.len > config.mtu as u32 { drop }
    pass
}
