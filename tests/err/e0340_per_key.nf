// expect: E0340 E0337
// Only a HyperLogLog is kept per key; a meter is never.
import std.net

sketch a: count_min(rows = 4, cols = 1024) keyed ipv4.src per ipv4.dst
meter m: token_bucket(rate = 10, burst = 10) keyed ipv4.src per ipv4.dst

control x(xdp) { pass }
