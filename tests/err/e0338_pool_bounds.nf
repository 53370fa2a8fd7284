// expect: E0338 E0338
// A pool whose bounds are reversed, and a meter with no burst.
pool p: ports(first = 9000, last = 1000)
meter m: token_bucket(rate = 10, burst = 0)

control c(xdp) { pass }
