// An inlined lpm table: the longest prefix wins, as in the LPM trie, even
// when a shorter one is listed first (the /17 is tested before the /16).
import std.net
action fwd(tag: u16) { ipv4.ttl = tag as u8; tx }
table routes {
    key { ipv4.dst: lpm }
    actions { fwd }
    entries {
        198.18.0.0/16: fwd(4)
        198.18.128.0/17: fwd(6)
    }
}
control router(xdp) { if !ipv4.valid { pass }  routes.apply()  pass }
