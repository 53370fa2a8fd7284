// `for` loops, unrolled: over a header stack's elements (the loop variable
// is a constant, so `vlan[i]` is a stack element and `.valid` narrows as
// usual) and up to a config value.
import std.net

config { ttl_cells: u32 = 4 }

counter by_ttl[8]

control c(xdp) {
    for i in 0..2 {
        if vlan[i].valid && vlan[i].vid == 100 { drop }
    }
    if !ipv4.valid { pass }
    for t in 0..config.ttl_cells {
        if ipv4.ttl == t as u8 { by_ttl[t].count() }
    }
    for n in 1..=2 {
        if ipv4.protocol == n as u8 { drop }
    }
    pass
}
