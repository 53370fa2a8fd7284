// expect: E0205
// Calling an action that does not exist.
control c(xdp) {
    count_packet(1)
    pass
}
