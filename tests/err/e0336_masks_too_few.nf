// expect: E0336
// Two mask slots needed (two prefix lengths), one allowed.
import std.net
action deny() { drop }
table acl {
    key { ipv4.src: ternary }
    actions { deny }
    size 64
    masks 1
    entries {
        198.18.0.0/16: deny
        198.19.0.0/24: deny
    }
}
control c(xdp) {
    if ipv4.valid { acl.apply() }
    pass
}
