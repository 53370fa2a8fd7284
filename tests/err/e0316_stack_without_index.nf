// expect: E0316 E0316
// A stack needs an index; a plain header cannot be indexed.
import std.net

control c(xdp) {
    if vlan.valid { drop }
    if ipv4[0].valid { drop }
    pass
}
