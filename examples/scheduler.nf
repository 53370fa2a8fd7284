// scheduler: queues driven by UDP commands, for schedulers and pacers.
// A datagram's destination port is the command; IPv4 addresses carry the
// rank and the element, the UDP source port a clock in milliseconds (so
// that runs are repeatable: BPF_PROG_TEST_RUN cannot set the kernel's
// clock).
//
// - 7001 push:    `departures.push(rank = ipv4.src, ipv4.dst)`; full: drop
// - 7002 pop:     the smallest rank's element (ties in push order) is
//                 written to ipv4.dst and the datagram sent back; empty: drop
// - 7003 pace:    flow ipv4.src may send one datagram per 2 ms: its next
//                 departure (kept in `next_tx`) goes into the timing wheel
// - 7004 release: the next flow whose departure is due at the clock is
//                 written to ipv4.dst and sent back; none due: drop
// - 7005 / 7006:  a plain FIFO backlog: enqueue ipv4.dst / dequeue it
import std.net

const GAP_NS: u64 = 2_000_000

queue departures: pqueue(size = 16384) of u32
queue pacer: wheel(slots = 64, tick = 1ms, size = 4096) of u32
queue backlog: fifo(size = 1024) of u32
map next_tx: u32 -> u64 size 4096
meta { departure: u64 }

control scheduler(xdp) {
    if !ipv4.valid || !udp.valid { pass }
    let now = (udp.src_port as u64) * 1_000_000
    if udp.dst_port == 7001 {
        if !departures.push(ipv4.src as u64, ipv4.dst) { drop }
        pass
    }
    if udp.dst_port == 7002 {
        let v = departures.pop_min() else { drop }
        ipv4.dst = v
        tx
    }
    if udp.dst_port == 7003 {
        // A flow leaves no earlier than now, and GAP_NS after its last.
        meta.departure = now
        if next_tx[ipv4.src] > now { meta.departure = next_tx[ipv4.src] }
        if !pacer.push(meta.departure, ipv4.src) { drop }
        next_tx[ipv4.src] = meta.departure + GAP_NS
        pass
    }
    if udp.dst_port == 7004 {
        let flow = pacer.pop_due(now) else { drop }
        ipv4.dst = flow
        tx
    }
    if udp.dst_port == 7005 {
        backlog.push(ipv4.dst)
        pass
    }
    if udp.dst_port == 7006 {
        let v = backlog.pop() else { drop }
        ipv4.dst = v
        tx
    }
    pass
}
