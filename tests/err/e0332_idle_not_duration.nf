// expect: E0332
// `idle` takes a duration with a unit.
map flows: u32 -> u64 size 1024 idle 30

control c(xdp) { pass }
