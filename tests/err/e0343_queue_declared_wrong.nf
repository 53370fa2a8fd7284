// expect: E0343 E0343 E0343 E0343 E0343 E0343 E0343 E0343
// Queues declared wrong: an unknown kind, no element type, a bool
// element, a size out of range, a wheel without a tick and with slots that
// are not a power of two, a keyed queue, `of` on a meter.
import std.net

queue a: stack(size = 4) of u32
queue b: fifo(size = 4)
queue c: pqueue(size = 0) of bool
queue d: wheel(slots = 100, size = 64) of u32
queue e: fifo(size = 4) keyed ipv4.src of u32
meter m: token_bucket(rate = 1, burst = 1) of u32

control ctl(xdp) { pass }
