// Exact keys plus one lpm key: an LPM trie whose key is the exact fields
// followed by the prefix. More than 8 static entries, so no inlining.
import std.net

meta { vrf: u8 }

action fwd(port: u32) { redirect(port) }
action blackhole() { drop }

table fib {
    key {
        meta.vrf: exact
        ipv4.dst: lpm
    }
    actions { fwd, blackhole }
    default blackhole
    entries {
        (0, 198.18.0.0/15): fwd(2)
        (0, 198.18.1.0/24): fwd(3)
        (0, 198.18.1.128/25): fwd(4)
        (0, 198.18.1.129): fwd(5)
        (1, 198.18.0.0/15): fwd(6)
        (1, 198.19.0.0/16): fwd(7)
        (1, 198.19.255.0/24): blackhole
        (2, 0.0.0.0/0): fwd(8)
        (2, 198.18.9.0/24): fwd(9)
    }
}

control c(xdp) {
    if !ipv4.valid { pass }
    if vlan[0].valid { meta.vrf = (vlan[0].vid & 0x3) as u8 }
    fib.apply()
    pass
}
