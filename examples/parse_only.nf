// parse_only: run the standard parser (Ethernet, up to two VLAN tags, ARP,
// IPv4 with options, IPv6, ICMP, ICMPv6, TCP, UDP) on every packet, then
// pass it. nflc keeps every bounds check of the parse, so this measures
// what parsing costs.
import std.net

control parse_only(xdp) {
    pass
}
