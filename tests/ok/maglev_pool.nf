// A maglev pool: the VIP table names the group, `pick` hashes the flow
// to one of the group's backends (or runs `else` for an empty group), and
// the address is written into the packet. The groups come from
// maglev_pool.yaml.
import std.net

meta { group: u16 }

pool backends: maglev(groups = 4, slots = 251, members = 8) of u32

action to_group(g: u16) { meta.group = g }

table vips {
    key { ipv4.dst: exact }
    actions { to_group }
    entries {
        198.18.0.10: to_group(0)
        198.18.0.11: to_group(1)
    }
}

control c(xdp) {
    if !ipv4.valid || !tcp.valid { pass }
    meta.group = 0xffff
    vips.apply()
    if meta.group == 0xffff { pass }
    let b = backends.pick(meta.group, ipv4.src, ipv4.dst, tcp.src_port, tcp.dst_port) else { drop }
    ipv4.dst = b
    tx
}
