// router: IPv4 forwarding, specialized. Routes come from router.yaml; with
// no `size` and at most 8 of them the table compiles into compares, and the
// router's MAC address folds into the code. Each forwarded packet gets the
// next hop's MAC, the router's MAC, TTL - 1 with the checksum patched
// incrementally (RFC 1624, as the kernel's ip_decrease_ttl), and is
// redirected. Unspecialized twin: router_dyn.nf. C twin: bench/c/router.c.
import std.net

config {
    router_mac: u48 = 02:00:00:00:00:fe
}

action fwd(port: u32, mac: u48) {
    ethernet.dst = mac
    ethernet.src = config.router_mac
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
}

control router(xdp) {
    if pkt.rejected { drop }
    if !ipv4.valid { pass }
    // Expiring packets go to the kernel, which answers with ICMP.
    if ipv4.ttl <= 1 { pass }
    routes.apply()
    pass
}
