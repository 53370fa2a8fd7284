// A static table with few entries compiles into compares (no map): exact
// keys, a default with an argument, entries in priority order.
import std.net

meta { class: u8 }

action set_class(class: u8) { meta.class = class }
action refuse() { drop }

table classify {
    key {
        ipv4.protocol: exact
        ipv4.dscp: exact
    }
    actions { set_class, refuse }
    default set_class(0)
    entries {
        (6, 46): set_class(5)
        (17, 46): set_class(5)
        (17, 0): set_class(1)
        (47, 0): refuse
    }
}

control qos(xdp) {
    if !ipv4.valid { pass }
    classify.apply()
    if meta.class == 5 { tx }
    pass
}
