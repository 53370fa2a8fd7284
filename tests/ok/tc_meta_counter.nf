// TC ingress classifier: marks bulk UDP with DSCP CS1 and keeps per-packet
// metadata in `meta` to share between actions.
import std.net

meta {
    bulk: bool
    l4_len: u16
}

action classify(len: u16) {
    meta.l4_len = len
    if len > 1200 { meta.bulk = true }
}

action remark(dscp: u6) {
    if ipv4.valid {
        ipv4.dscp = dscp
    }
}

control shape(tc) {
    if udp.valid {
        classify(udp.len)
    }
    if meta.bulk && meta.l4_len >= 1400 {
        remark(8)
    }
    pass
}
