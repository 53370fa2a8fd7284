// expect: E0212
// std_parse and eth_only are both in scope, and the control names neither.
import std.net

parser eth_only {
    state start { extract ethernet; accept }
}

control c(xdp) { pass }
