// expect: E0203 E0203
// `ipv4` needs `import std.net`; `MTU` was never declared.
control c(xdp) {
    if ipv4.valid { drop }
    if pkt.len > MTU { drop }
    pass
}
