// expect: E0301 E0301
// Widths are 1 to 64 bits.
header big { wide: u72, rest: u56 }
meta { flag: u0 }

control c(xdp) { pass }
