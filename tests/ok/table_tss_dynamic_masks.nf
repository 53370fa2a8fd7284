// A run-time writable ternary table with an explicit mask bound, two lpm
// keys (which also make a tuple-space classifier), and entries from the
// config file after the ones in the source.
import std.net

action allow() { pass }
action deny() { drop }

table pairs {
    key {
        ipv4.src: lpm
        ipv4.dst: lpm
    }
    actions { allow, deny }
    default allow
    size 256
    masks 4
    entries {
        (198.18.0.0/16, 198.19.0.0/16): deny
    }
}

control c(xdp) {
    if ipv4.valid { pairs.apply() }
    pass
}
