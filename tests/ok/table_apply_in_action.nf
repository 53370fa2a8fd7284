// A table applied inside an action: the headers its key and actions use
// become the action's requirements, checked where the action is called.
import std.net

action to_port(port: u32) { redirect(port) }

table by_dst {
    key { ipv4.dst: exact }
    actions { to_port }
    entries {
        198.18.0.1: to_port(2)
        198.18.0.2: to_port(3)
    }
}

action route() {
    by_dst.apply()
    ipv4.ttl -= 1
}

control c(xdp) {
    if ipv4.valid && ipv4.ttl > 1 { route() }
    pass
}
