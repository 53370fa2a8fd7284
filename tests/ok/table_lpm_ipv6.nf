// A 128-bit lpm key made of two fields; its entries come from the config
// file (table_lpm_ipv6.yaml), since `.nf` patterns stop at 64 bits.
import std.net

action fwd(port: u32) {
    ipv6.hop_limit -= 1
    redirect(port)
}

table routes6 {
    key { (ipv6.dst_hi, ipv6.dst_lo): lpm }
    actions { fwd }
    size 1024
    entries {
        _: fwd(1)
    }
}

control c(xdp) {
    if ipv6.valid && ipv6.hop_limit > 1 {
        routes6.apply()
    }
    pass
}
