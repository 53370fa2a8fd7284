// expect: E0323
// A set parameter read as a value.
import std.net

config { trusted: set<u32> = {198.18.0.0/15} }

control c(xdp) {
    if ipv4.valid && ipv4.src == config.trusted { pass }
    drop
}
