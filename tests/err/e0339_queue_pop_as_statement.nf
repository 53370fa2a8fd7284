// expect: E0339
// Taking from a queue may find it empty: it belongs in `let ... else`.
import std.net

queue q: fifo(size = 4) of u32

control ctl(xdp) {
    q.pop()
    pass
}
