// ddos: a volumetric and SYN-flood guard in front of a server. Every
// IPv4 source gets its own token bucket (packets per second); a bare TCP
// SYN must also get a token from a much stricter per-source bucket and
// from a bucket shared by all sources, so one host cannot open
// connections faster than the classic "1/s, burst 4" and all of them
// together cannot flood the server's SYN queue. Sources on the allow list
// (monitoring, partners; a table writable at run time) are never
// policed; sources in `config.blocked` are always dropped. IPv6 sources
// are policed per /64, since one host holds a whole /64.
//
// Meters refill continuously (no timer): a bucket holds at most `burst`
// tokens and gains `rate` per second. A source's first packet finds a
// full bucket. Buckets live in LRU hashes, so a flood of new sources
// evicts the least recently seen ones instead of failing.
//
// `nflc build examples/ddos.nf --explain` (with ddos.yaml):
//   meter per_src, syn_per_src: 262144 buckets each, per_net6: 65536,
//     syn_all: 1; each an LRU hash of {tokens, last_ns}
//   table allow_list [ipv4.src: lpm]: LPM trie, 4096 entries max; 2
//     entries at build, writable at run time
//   every config value folded into the code: 461 instructions; with
//   `syn_guard: false` the SYN checks leave the bytecode (316), though
//   the two SYN meters' maps are still created
import std.net

config {
    pps_per_source: u32 = 10000
    burst_per_source: u32 = 20000
    syn_guard: bool = true
    syn_per_source: u32 = 1
    syn_burst_per_source: u32 = 4
    syn_total: u32 = 20000
    blocked: set<u32> = {}
}

// Meter arguments are u64; the casts make that explicit.
meter per_src: token_bucket(rate = config.pps_per_source as u64, burst = config.burst_per_source as u64,
                            size = 262144) keyed ipv4.src
meter per_net6: token_bucket(rate = config.pps_per_source as u64, burst = config.burst_per_source as u64,
                             size = 65536) keyed ipv6.src_hi
meter syn_per_src: token_bucket(rate = config.syn_per_source as u64, burst = config.syn_burst_per_source as u64,
                                size = 262144) keyed ipv4.src
// No key: one bucket for all sources.
meter syn_all: token_bucket(rate = config.syn_total as u64, burst = config.syn_total as u64)

counter allowed
counter blocked
counter over_rate
counter syn_limited

action allow() {
    allowed.count()
    pass
}

table allow_list {
    key { ipv4.src: lpm }
    actions { allow }
    size 4096
}

control ddos(xdp) {
    if pkt.rejected { drop }

    if ipv4.valid {
        if ipv4.src in config.blocked {
            blocked.count()
            drop
        }
        allow_list.apply()
        if !per_src.take(1) {
            over_rate.count()
            drop
        }
        // A bare SYN opens a connection; SYN+ACK, RST and the rest do not.
        // The source's own bucket goes first, so a flooding source does
        // not use up the shared one.
        if config.syn_guard && tcp.valid && tcp.flags & (TCP_SYN | TCP_ACK) == TCP_SYN {
            if !syn_per_src.take(1) || !syn_all.take(1) {
                syn_limited.count()
                drop
            }
        }
        pass
    }

    if ipv6.valid && !per_net6.take(1) {
        over_rate.count()
        drop
    }
    pass
}
