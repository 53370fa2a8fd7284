// bridge: an L2 learning switch in the XDP fast path. Every frame teaches
// the bridge which interface its source MAC lives behind; a frame to a MAC
// the bridge knows goes straight out of that interface with `redirect`.
// What it cannot forward here (broadcast, multicast, unknown unicast) it
// passes to the host's own bridge, which floods it. A frame whose
// destination lives behind the interface it came in on is dropped: that
// segment has already seen it.
//
// Learned entries expire after 300 s without traffic from their station
// (the map's `idle`); static entries from bridge.yaml pin a MAC to an
// interface, never expire, and win over what is learned.
//
// `nflc build examples/bridge.nf --explain` (with bridge.yaml):
//   table static_fdb [ethernet.dst: exact]: hash map `static_fdb_rules`,
//     256 entries max; 2 entries at build, writable at run time
//   map macs: lru_hash, key 8 B (the u48 in a u64 slot), value 16 B
//     (value, last-seen ns), 4096 entries; 361 instructions
import std.net

// The I/G bit: set in group (broadcast, multicast) addresses.
const GROUP_BIT: u48 = 0x010000000000

// Source MAC -> ingress ifindex. An LRU hash: it never fills up, the
// least recently used station goes first.
map macs: u48 -> u32 size 4096 idle 300s

counter learned        // a new station, or one that moved
counter forwarded
counter filtered       // destination on the ingress segment
counter flooded        // group or unknown destination, left to the host

action to_port(port: u32) {
    if port == pkt.ifindex {
        filtered.count()
        drop
    }
    forwarded.count()
    redirect(port)
}

table static_fdb {
    key { ethernet.dst: exact }
    actions { to_port }
    size 256
}

control bridge(xdp) {
    if !ethernet.valid { drop }

    // Learn from unicast sources only; 00:00:00:00:00:00 is no station.
    // Reading the entry refreshes it, so a station that keeps talking
    // never expires; it is written only when new or moved.
    if ethernet.src & GROUP_BIT == 0 && ethernet.src != 0 {
        if macs[ethernet.src] != pkt.ifindex {
            macs[ethernet.src] = pkt.ifindex
            learned.count()
        }
    }

    if ethernet.dst & GROUP_BIT != 0 {
        flooded.count()
        pass
    }

    static_fdb.apply()

    // 0 is no interface: the destination is unknown (or expired).
    let port = macs[ethernet.dst]
    if port == 0 {
        flooded.count()
        pass
    }
    to_port(port)
}
