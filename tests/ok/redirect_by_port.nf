// Steer DNS to interface 4 and everything else from the management port
// back to where it came from.
import std.net

const DNS_IFINDEX: u32 = 4
const MGMT_PORT = 2222

control steer(xdp) {
    if udp.valid && udp.dst_port == 53 {
        redirect(DNS_IFINDEX)
    }
    if tcp.valid && tcp.dst_port == MGMT_PORT {
        redirect(pkt.ifindex)
    }
    if pkt.ifindex == 1 { redirect(2) }
    pass
}
