// Queues: a FIFO (push as a statement and as a value, pop, peek), a
// priority queue (push with a rank, pop_min, peek) and a timing wheel
// (push at a time, pop_due), as the `helpers` profile lowers them.
import std.net

queue fifo_q: fifo(size = 16) of u16
queue prio: pqueue(size = 8) of u32
queue timers: wheel(slots = 4, tick = 1ms, size = 8) of u32

control c(xdp) {
    if !ipv4.valid || !udp.valid { pass }
    if udp.dst_port == 1 {
        fifo_q.push(udp.src_port)
        if !prio.push(ipv4.src as u64, ipv4.dst) { drop }
        timers.push(ipv4.src as u64, ipv4.dst)
        pass
    }
    let f = fifo_q.peek() else { drop }
    let g = fifo_q.pop() else { drop }
    udp.src_port = f ^ g
    let top = prio.peek() else { drop }
    let v = prio.pop_min() else { drop }
    ipv4.dst = v ^ top
    let t = timers.pop_due(ipv4.src as u64) else { drop }
    ipv4.src = t
    tx
}
