// expect: E0333 E0333 E0333
// Queue methods that do not exist for the queue's kind.
import std.net

queue q: fifo(size = 4) of u32
queue p: pqueue(size = 4) of u32

control ctl(xdp) {
    let a = q.pop_min() else { drop }
    let b = p.pop() else { drop }
    q.shuffle()
    pass
}
