// expect: E0506
// Actions cannot add or remove headers: the caller would not know.
import std.net

action strip() {
    vlan.pop()
}

control c(xdp) {
    if vlan[0].valid { strip() }
    pass
}
