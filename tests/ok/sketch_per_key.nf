// A HyperLogLog per destination: distinct sources of each, the 256 most
// recently seen destinations kept.
import std.net

sketch fanin: hyperloglog(p = 6, size = 256) keyed ipv4.src per ipv4.dst

control c(xdp) {
    if ipv4.valid { fanin.add() }
    pass
}
