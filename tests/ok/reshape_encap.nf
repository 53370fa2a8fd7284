// Reshaping: IPv4-in-IPv4 encapsulation for traffic to one address (the
// outer header is inserted after Ethernet and any VLAN tags, written and
// checksummed), a VLAN tag pushed on other IPv4, and the outer tag popped
// from anything else tagged. A rewritten TCP port gets its checksum
// updated incrementally.
import std.net

header outer_ipv4 {
    version: u4
    ihl: u4
    dscp: u6
    ecn: u2
    total_len: u16
    id: u16
    flags: u3
    frag_offset: u13
    ttl: u8
    protocol: u8
    checksum: u16
    src: u32
    dst: u32
}

control reshape(xdp) {
    if !ethernet.valid { pass }
    if !ipv4.valid {
        if !vlan[0].valid { pass }
        ethernet.ethertype = vlan[0].ethertype
        vlan.pop()
        tx
    }
    if tcp.valid && tcp.dst_port == 8080 {
        tcp.dst_port = 80
        tcp.update_checksum()
    }
    if ipv4.dst == 198.18.0.10 {
        outer_ipv4.set_valid()
        outer_ipv4.version = 4
        outer_ipv4.ihl = 5
        outer_ipv4.total_len = ipv4.total_len + 20
        outer_ipv4.ttl = 64
        outer_ipv4.protocol = 4
        outer_ipv4.src = 198.18.0.1
        outer_ipv4.dst = 198.18.0.2
        outer_ipv4.update_checksum()
        tx
    }
    let inner = ethernet.ethertype
    vlan.push()
    vlan[0].vid = 10
    vlan[0].ethertype = inner
    ethernet.ethertype = 0x8100
    pass
}
