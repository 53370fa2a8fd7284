// expect: E0303 E0303
// Stacks hold 1 to 64 elements.
header none[0] { x: u8 }
header many[100] { y: u8 }

control c(xdp) { pass }
