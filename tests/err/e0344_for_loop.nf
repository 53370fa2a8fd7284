// expect: E0344 E0310
// A `for` loop whose variable indexes a header stack is unrolled, so it
// runs at most 64 times; its bounds are constants.
import std.net

control c(xdp) {
    for i in 0..100 {
        if vlan[i].valid { drop }
    }
    if ipv4.valid {
        for k in 0..ipv4.ttl { pass }
    }
    pass
}
