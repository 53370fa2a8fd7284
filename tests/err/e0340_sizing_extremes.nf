// expect: E0340 E0340 E0340
// Sizes beyond any map (a bound so tight the column count overflows u64,
// items near 2^64) are refused, never wrapped; a Bloom filter needs a hash.
import std.net

sketch a: count_sketch(eps = 0.0000000001, delta = 0.5) keyed ipv4.src
sketch b: bloom(items = 18446744073709551615, fp = 0.5) keyed ipv4.src
sketch c: bloom(bits = 32, hashes = 0) keyed ipv4.src

control x(xdp) { pass }
