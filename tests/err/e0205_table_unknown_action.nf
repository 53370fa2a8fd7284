// expect: E0205
// A table listing an action that is not declared.
import std.net

action allow() { pass }

table acl {
    key { ipv4.src: ternary }
    actions { allow, deny }
}

control c(xdp) {
    if ipv4.valid { acl.apply() }
    pass
}
