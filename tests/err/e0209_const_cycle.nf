// expect: E0209
// Two constants defined in terms of each other.
const A: u16 = B + 1
const B: u16 = A * 2

control c(xdp) { pass }
