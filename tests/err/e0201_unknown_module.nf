// expect: E0201 E0201
// `std.nett` is a typo; `lib.missing` cannot be found by the loader.
import std.nett
import lib.missing

control c(xdp) { pass }
