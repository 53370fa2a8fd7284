// router_dyn: router.nf, not specialized. The same routes (router_dyn.yaml)
// go into a run-time writable table (`size`): an LPM trie. The router's MAC
// is read from a map on every packet instead of being folded.
import std.net

// knobs[0]: the router's MAC address (low 48 bits). Written by the control plane.
map knobs: u32 -> u64 size 1

action fwd(port: u32, mac: u48) {
    ethernet.dst = mac
    ethernet.src = knobs[0] as u48
    ipv4.ttl -= 1
    // TTL is the high byte of its checksum word: add 0x0100, end-around carry.
    let sum = (ipv4.checksum as u32) + 0x0100
    if sum >= 0xffff {
        ipv4.checksum = (sum + 1) as u16
    } else {
        ipv4.checksum = sum as u16
    }
    redirect(port)
}

table routes {
    key { ipv4.dst: lpm }
    actions { fwd }
    size 1024
}

control router(xdp) {
    if pkt.rejected { drop }
    if !ipv4.valid { pass }
    // Expiring packets go to the kernel, which answers with ICMP.
    if ipv4.ttl <= 1 { pass }
    routes.apply()
    pass
}
