// A map without `idle` is a plain hash map of u64 slots; narrow keys and
// values are widened to their natural slots.
import std.net

map seen: u48 -> u32 size 1024
map bytes: u8 -> u64

control c(xdp) {
    if !ethernet.valid { pass }
    seen[ethernet.src] = seen[ethernet.src] + 1
    if ipv4.valid { bytes[ipv4.protocol] += pkt.len as u64 }
    if seen[ethernet.dst] == 0 { pass }
    tx
}
