// Config parameters: scalars, a bool that removes code when false, sets
// tested with `in`, defaults overridden by config_folding.yaml.
import std.net

config {
    mtu: u16 = 1500
    strict: bool = true
    log_drops: bool = false
    trusted: set<u32> = {198.18.0.0/15}
    ports: set<u16> = {22, 80, 443, 8000..=8100}
    mark: u6 = 0
}

counter dropped

action note_drop() {
    if config.log_drops { dropped.count() }
    drop
}

control c(xdp) {
    if !ipv4.valid { pass }
    if ipv4.total_len > config.mtu { note_drop() }
    if ipv4.src in config.trusted { pass }
    if config.strict && tcp.valid && !(tcp.dst_port in config.ports) { note_drop() }
    ipv4.dscp = config.mark
    pass
}
