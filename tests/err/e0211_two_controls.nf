// expect: E0211
// A program has exactly one control.
control first(xdp) { pass }
control second(tc) { drop }
