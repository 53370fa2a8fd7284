// The smallest program: no parser, every packet passes unless it is huge.
const JUMBO: u32 = 9000

control tiny(xdp) {
    if pkt.len > JUMBO { drop }
}
