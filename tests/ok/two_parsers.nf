// Two parsers in scope (std_parse and a minimal one): the control names
// which to use.
import std.net

parser only_ethernet {
    state start {
        extract ethernet
        accept
    }
}

control l2(xdp, only_ethernet) {
    if !ethernet.valid { drop }
    if ethernet.dst == ff:ff:ff:ff:ff:ff { pass }
    if ethernet.src & 0x010000000000 != 0 { drop }   // multicast source
    if ethernet.ethertype in 0x0000..0x0600 { drop }  // 802.3 length field
    pass
}
