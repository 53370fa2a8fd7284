// Only answer-worthy ARP passes: requests and replies for 198.18.0.0/24,
// Ethernet/IPv4 only.
import std.net

control arp_only(xdp) {
    if !arp.valid { pass }
    if arp.htype != 1 || arp.ptype != 0x0800 || arp.hlen != 6 || arp.plen != 4 { drop }
    if !(arp.oper in {1, 2}) { drop }
    if arp.tpa in 198.18.0.0/24 && arp.sha != ff:ff:ff:ff:ff:ff { pass }
    drop
}
