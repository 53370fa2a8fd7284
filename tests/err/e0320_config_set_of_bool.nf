// expect: E0320
// A config set holds integers.
config { flags: set<bool> = {1} }

control c(xdp) { pass }
