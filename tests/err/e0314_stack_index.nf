// expect: E0314 E0314
// `vlan` has two elements (0 and 1); indices must be constants.
import std.net

control c(xdp) {
    if vlan[2].valid { drop }
    let i: u8 = 1
    if vlan[i].valid { drop }
    pass
}
