// `for` loops the compiler keeps as loops: too many iterations to unroll
// (more than 64, or copies over the unroll budget), and the variable only
// a value, never a stack index. Their bodies branch only on the loop
// variable, which the verifier follows exactly, so each is a bounded loop
// under every profile. A body that branches on packet data forks the
// verifier every pass; `--target stock` makes such a loop an open-coded
// iterator (tests/kernel.rs builds one).
import std.net

counter by_ttl[256]
counter steps

control c(xdp) {
    if !ipv4.valid { pass }
    // 256 iterations: the top six TTL counters.
    for i in 0..256 {
        if i >= 250 { by_ttl[i].count() }
    }
    // 1,000 iterations; the verifier cannot follow `n % 250` (it would
    // fork every pass), so the test is on `n` alone.
    for n in 0..1000 {
        if n >= 996 { steps.count() }
    }
    if ipv4.ttl > 200 { drop }
    pass
}
