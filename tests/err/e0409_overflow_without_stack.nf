// expect: E0409
// `overflow` on a parser that extracts no header stack: nothing can
// overflow, so the clause says nothing.
import std.net

parser plain overflow drop {
    state start {
        extract ethernet
        accept
    }
}

control c(xdp, plain) {
    pass
}
