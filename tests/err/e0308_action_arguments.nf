// expect: E0308 E0308
// Wrong number of arguments, then a bool where a u16 is expected.
action set_port(port: u16) {
    if port == 0 { drop }
}

control c(xdp) {
    set_port(1, 2)
    set_port(true)
    pass
}
