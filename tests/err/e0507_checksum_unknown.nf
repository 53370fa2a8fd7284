// expect: E0507 E0203
// `update_checksum` knows IPv4, TCP and UDP layouts; `ethernet` has no
// checksum. `outer` is not declared at all.
import std.net

control c(xdp) {
    if ethernet.valid { ethernet.update_checksum() }
    outer.set_valid()
    pass
}
