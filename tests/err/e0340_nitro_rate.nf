// expect: E0340 E0340
// NitroSketch samples with a power of 1/2, and a top-k needs more
// candidates than keys it reports.
import std.net

sketch a: nitro(rows = 4, cols = 1024, p = 0.3) keyed ipv4.src
sketch b: topk(k = 100, rows = 4, cols = 1024, candidates = 200) keyed ipv4.src

control x(xdp) { pass }
