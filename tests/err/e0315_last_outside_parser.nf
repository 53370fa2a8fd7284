// expect: E0315
// `.last` only exists while parsing; the control names elements.
import std.net

control c(xdp) {
    if vlan.last.vid == 100 { drop }
    pass
}
