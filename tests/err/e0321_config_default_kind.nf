// expect: E0321 E0321
// A set given to a scalar, a value given to a set.
config {
    rate: u32 = {1, 2}
    ports: set<u16> = 80
}

control c(xdp) { pass }
