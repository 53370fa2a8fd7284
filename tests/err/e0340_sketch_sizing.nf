// expect: E0340 E0340 E0340 E0340
// Columns that are not a power of two, a sketch with no key, a fraction
// out of range, and a count-min with no column sizing.
import std.net

sketch a: count_min(rows = 4, cols = 1000) keyed ipv4.src
sketch b: bloom(bits = 1024, hashes = 3)
sketch c: count_min(eps = 1.5, delta = 0.01) keyed ipv4.dst
sketch d: count_min(delta = 0.01) keyed ipv4.dst

control x(xdp) { pass }
