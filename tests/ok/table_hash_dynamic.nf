// All keys exact and a `size`: a hash map the control plane writes at run
// time. Two keys of different widths share one map key.
import std.net

action to_port(port: u32) { redirect(port) }
action deny() { drop }

table services {
    key {
        ipv4.dst: exact
        udp.dst_port: exact
    }
    actions { to_port, deny }
    size 4096
    entries {
        (198.18.0.53, 53): to_port(3)
    }
}

control c(xdp) {
    if ipv4.valid && udp.valid {
        services.apply()
    }
    pass
}
