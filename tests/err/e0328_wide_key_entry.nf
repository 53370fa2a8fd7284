// expect: E0328
// A `.nf` entry for a 128-bit key: such entries belong in the YAML.
import std.net

action a() { pass }

table t {
    key { (ipv6.dst_hi, ipv6.dst_lo): lpm }
    actions { a }
    entries {
        0x20010db8: a
    }
}

control c(xdp) {
    if ipv6.valid { t.apply() }
    pass
}
