// expect: E0337 E0337 E0337
// A meter of an unknown kind, a meter argument that does not exist, and a
// keyed pool.
import std.net

meter a: leaky_bucket(rate = 10, burst = 10)
meter b: token_bucket(rate = 10, burst = 10, colour = 2)
pool p: ports(first = 1, last = 9) keyed ipv4.src

control c(xdp) { pass }
