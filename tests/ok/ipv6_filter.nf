// IPv6: drop packets from 2001:db8::/32 (documentation prefix), link-local
// sources on forwarded traffic, and hop limits of 0 or 1.
import std.net

const DOC_PREFIX: u64 = 0x20010db800000000

control v6(xdp) {
    if !ipv6.valid { pass }
    if ipv6.src_hi & 0xffffffff00000000 == DOC_PREFIX { drop }
    if ipv6.src_hi in 0xfe80000000000000/10 { drop }
    if ipv6.hop_limit < 2 { drop }
    if icmpv6.valid && icmpv6.type in 128..130 { pass }
    if ipv6.flow_label != 0 && ipv6.traffic_class >> 2 == 46 { pass }
    pass
}
