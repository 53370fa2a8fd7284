//! Sketches and queues of a running NF through the control plane, end to
//! end in the kernel: `nflc run --iface` on the namespace end of a veth
//! pair, real UDP from the other end, then `nflc sketch query/top` and
//! `nflc queue peek`. Addresses only from 198.18.0.0/15; bounded traffic;
//! the run, its pins and the namespace go even when an assertion fails.

mod common;

use common::live::*;

const SKETCHES: &str = r#"
import std.net

sketch talkers: topk(k = 5, eps = 0.01, delta = 0.01) keyed ipv4.src
sketch ports: bloom(items = 1000, fp = 0.001) keyed udp.dst_port
sketch sources: hyperloglog(p = 12) keyed ipv4.src

control watch(xdp) {
    if !ipv4.valid { pass }
    talkers.add()
    sources.add()
    if udp.valid { ports.add() }
    pass
}
"#;

#[test]
fn sketch_query_reads_what_the_traffic_wrote() {
    if !nfl_runtime::require_kernel("sketch_query_reads_what_the_traffic_wrote") {
        return;
    }
    let mut s = Setup::with("sk", SKETCHES, "{}");
    s.start(&[]);
    let (name, host) = (s.name.clone(), s.host());
    assert_eq!(udp(&s.pair, 80, 25), 25);
    assert_eq!(udp(&s.pair, 81, 5), 5);
    let (out, _) = ok(&["sketch", "query", &name, "talkers", &host]);
    assert!(out.contains("estimate 30 "), "every datagram from the host counted once:\n{out}");
    let (out, _) = ok(&["sketch", "query", &name, "talkers", "198.19.255.254"]);
    assert!(out.contains("estimate 0 "), "a silent address:\n{out}");
    let (out, _) = ok(&["sketch", "top", &name, "talkers"]);
    assert!(out.contains(&format!("   1  {host}")) && out.lines().count() == 2, "one talker, the host, with its 30 datagrams:\n{out}");
    assert!(out.trim_end().ends_with(" 30"), "{out}");
    fails_with(&["sketch", "top", &name, "ports"], &[], "E0822");
    let (out, _) = ok(&["sketch", "query", &name, "ports", "80"]);
    assert!(out.contains("maybe present"), "{out}");
    let (out, _) = ok(&["sketch", "query", &name, "ports", "9999"]);
    assert!(out.contains("absent"), "{out}");
    let (out, _) = ok(&["sketch", "query", &name, "sources"]);
    assert!(out.contains("cardinality 1 distinct"), "{out}");
    let err = fails_with(&["sketch", "query", &name, "talker", &host], &[], "E0836");
    assert!(err.contains("did you mean `talkers`?"), "{err}");
    fails_with(&["sketch", "query", &name, "talkers"], &[], "E0822");
    fails_with(&["sketch", "query", &name, "ports", "70000"], &[], "E0822");
    // The live view ticks once a second; let it tick at least once.
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let out = s.stop();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let live = text(&out.stdout);
    assert!(live.contains(&format!("top talkers: {host} 30")), "the live view shows the top talker:\n{live}");
    assert_gone(&s);
}

const QUEUES: &str = r#"
import std.net

queue arrivals: fifo(size = 64) of u16
queue lowest: pqueue(size = 64) of u16
queue later: wheel(slots = 64, tick = 1ms, size = 256) of u16

// Every UDP datagram's destination port, into each queue (a port as the
// rank, and as the wheel's due time in ms).
control queues(xdp) {
    if !udp.valid { pass }
    arrivals.push(udp.dst_port)
    lowest.push(udp.dst_port as u64, udp.dst_port)
    later.push((udp.dst_port as u64) * 1_000_000, udp.dst_port)
    pass
}
"#;

#[test]
fn queue_peek_shows_what_the_traffic_pushed() {
    if !nfl_runtime::require_kernel("queue_peek_shows_what_the_traffic_pushed") {
        return;
    }
    let mut s = Setup::with("q", QUEUES, "{}");
    s.start(&[]);
    let name = s.name.clone();
    let (out, _) = ok(&["queue", "peek", &name, "lowest"]);
    assert!(out.contains("lowest: 0 of 64 element(s)") && out.contains("(empty)"), "{out}");
    for port in [5003, 5001, 5002, 5001] {
        assert_eq!(udp(&s.pair, port, 1), 1);
    }
    let (out, _) = ok(&["queue", "peek", &name, "arrivals"]);
    assert!(out.contains("   1  value 5003\n") && out.lines().count() == 2, "the fifo's head is the first port:\n{out}");
    let (out, _) = ok(&["queue", "peek", &name, "lowest"]);
    assert!(out.contains("lowest: 4 of 64 element(s)") && out.contains("   1  rank 5001  value 5001\n"), "{out}");
    let (out, _) = ok(&["queue", "peek", &name, "lowest", "-n", "9"]);
    let ranks: Vec<&str> = out.lines().skip(1).filter_map(|l| l.split("rank ").nth(1)?.split(' ').next()).collect();
    assert_eq!(ranks, ["5001", "5001", "5002", "5003"], "{out}");
    // The first push set the wheel's clock at tick 5003; earlier ticks count as due then.
    let (out, _) = ok(&["queue", "peek", &name, "later", "-n", "4"]);
    assert!(out.contains("later: 4 of 256 element(s), clock at tick 5003"), "{out}");
    let values: Vec<&str> = out.lines().skip(1).filter_map(|l| l.split("value ").nth(1)).collect();
    assert_eq!(values, ["5003", "5001", "5002", "5001"], "oldest first in the due slot:\n{out}");
    assert!(out.contains("due at tick 5003 (5003000000 ns)"), "{out}");
    // Peeking takes nothing: the same head again.
    let (again, _) = ok(&["queue", "peek", &name, "arrivals"]);
    assert!(again.contains("   1  value 5003\n"), "{again}");
    let err = fails_with(&["queue", "peek", &name, "lowst"], &[], "E0838");
    assert!(err.contains("did you mean `lowest`?"), "{err}");
    fails_with(&["queue", "peek", &name, "arrivals", "-n", "2"], &[], "E0822");
    fails_with(&["queue", "peek", &format!("{name}-none"), "lowest"], &[], "E0807");
    let out = s.stop();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_gone(&s);

    // The stock profile keeps the pqueue in a kernel rbtree: not readable.
    let mut s = Setup::with("qs", QUEUES, "{}");
    s.start(&["--target", "stock"]);
    assert_eq!(udp(&s.pair, 5001, 1), 1);
    let err = fails_with(&["queue", "peek", &s.name, "lowest"], &[], "E0837");
    assert!(err.contains("stock") && err.contains("--target helpers"), "{err}");
    let (out, _) = ok(&["queue", "peek", &s.name, "arrivals"]);
    assert!(out.contains("value 5001"), "a fifo reads the same in every profile:\n{out}");
    let out = s.stop();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_gone(&s);
}
