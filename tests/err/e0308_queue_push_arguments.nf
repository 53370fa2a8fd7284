// expect: E0308 E0308 E0308
// `push` on a pqueue takes a rank and the element; on a fifo only the
// element; `pop_due` takes the time now.
import std.net

queue q: fifo(size = 4) of u32
queue p: pqueue(size = 4) of u32
queue w: wheel(slots = 8, tick = 1ms, size = 8) of u32

control ctl(xdp) {
    p.push(1)
    q.push(1, 2)
    let v = w.pop_due() else { drop }
    pass
}
