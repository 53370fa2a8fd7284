// expect: E0213 E0213
// Actions are inlined, so they cannot call each other in a cycle.
meta { n: u8 }

action ping() { meta.n += 1; pong() }
action pong() { if meta.n < 10 { ping() } }

control c(xdp) {
    ping()
    pass
}
