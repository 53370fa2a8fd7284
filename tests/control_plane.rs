//! The control plane end to end, through the `nflc` binary, in the kernel: a
//! small firewall (a counter per action, a dynamic exact table, a dynamic
//! ternary table, a config parameter, an idle map) runs with `nflc run
//! --iface` on the namespace end of a veth pair while the test sends real
//! UDP and TCP from the other end, and drives it from outside with `nflc
//! table`, `nflc stats`, `nflc state dump` and `nflc reload`.
//!
//! Addresses only from 198.18.0.0/15; every traffic loop is bounded in count
//! and time; a guard kills the run and removes its pins and record even when
//! an assertion fails, and the pair's namespace goes with it.

use std::net::{SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nfl_runtime::netns::VethPair;
use nfl_runtime::pins;

mod common;

use common::live::*;

const FW: &str = r#"
import std.net

config {
    block_port: u16 = 9
}

// One cell per action: 0 allow, 1 deny, 2 mark, 3 blocked by the config.
counter hits[4]

meta {
    dport: u16
    mark: u16
}

action allow() { hits[0].count() }
action deny() { hits[1].count(); drop }
action mark(port: u16) { hits[2].count(); meta.mark = port }

table blocklist {
    key {
        ipv4.src: exact
        meta.dport: exact
    }
    actions { deny }
    size 64
}

table acl {
    key {
        ipv4.src: ternary
        ipv4.protocol: ternary
        meta.dport: range
    }
    actions { allow, deny, mark }
    default allow
    size 256
    masks 16
}

table fixed {
    key { meta.dport: exact }
    actions { allow }
    entries { 1: allow }
}

map seen: u32 -> u64 size 1024 idle 30s

control fw(xdp) {
    if !ipv4.valid { pass }
    if udp.valid { meta.dport = udp.dst_port }
    else if tcp.valid { meta.dport = tcp.dst_port }
    else { pass }
    seen[ipv4.src] += 1
    if meta.dport == config.block_port { hits[3].count(); drop }
    if meta.dport == 1 { fixed.apply() }
    blocklist.apply()
    acl.apply()
    pass
}
"#;

const FW_YAML: &str = r#"
block_port: 9
tables:
  acl:
    - match: { ipv4.src: 198.18.0.0/15, ipv4.protocol: 17, meta.dport: 5000..=5099 }
      action: deny
"#;

/// One TCP connection attempt (one SYN within the timeout): whether the SYN
/// got through (refused by the closed port) or was dropped (timed out).
fn tcp_passes(pair: &VethPair, port: u16) -> bool {
    let to = SocketAddr::V4(SocketAddrV4::new(pair.ns_addr, port));
    match TcpStream::connect_timeout(&to, Duration::from_millis(400)) {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => true,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => false,
        other => panic!("unexpected connect result: {other:?}"),
    }
}

/// The packets of each `hits` cell, from `nflc stats`.
fn hits(name: &str) -> [u64; 4] {
    let (out, _) = ok(&["stats", name]);
    let mut cells = [0u64; 4];
    for (i, cell) in cells.iter_mut().enumerate() {
        let line = out.lines().find(|l| l.trim_start().starts_with(&format!("hits[{i}] "))).unwrap_or_else(|| panic!("no hits[{i}]:\n{out}"));
        let mut words = line.split_whitespace().skip_while(|w| *w != "packets");
        *cell = words.nth(1).and_then(|w| w.parse().ok()).unwrap_or_else(|| panic!("bad line {line}"));
    }
    cells
}

/// Wait (at most 2 s) until the counters read `want`, then check they do.
fn expect_hits(name: &str, want: [u64; 4]) {
    let start = Instant::now();
    while hits(name) != want && start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(hits(name), want, "hits[allow, deny, mark, config block]");
}

fn add(h: &mut [u64; 4], d: [u64; 4]) -> [u64; 4] {
    for (a, b) in h.iter_mut().zip(d) {
        *a += b;
    }
    *h
}

/// Milliseconds `nflc` said a table command took ("... in X ms").
fn took_ms(stderr: &str) -> f64 {
    stderr.rsplit(" in ").next().and_then(|t| t.trim().trim_end_matches("ms").trim().parse().ok()).unwrap_or(f64::NAN)
}

#[test]
fn tables_stats_state_and_reload_on_a_running_firewall() {
    if !nfl_runtime::require_kernel("tables_stats_state_and_reload_on_a_running_firewall") {
        return;
    }
    let mut s = Setup::with("fw", FW, FW_YAML);
    s.start(&[]);
    let name = s.name.clone();
    let mut h = [0u64; 4];

    // The build's rules: the config's acl entry denies UDP 5000..=5099, the
    // config parameter blocks port 9, anything else is allowed by default.
    assert_eq!(udp(&s.pair, 80, 5), 5);
    assert_eq!(udp(&s.pair, 5000, 4), 0);
    assert_eq!(udp(&s.pair, 9, 3), 0);
    assert!(tcp_passes(&s.pair, 8080) && tcp_passes(&s.pair, 8080));
    expect_hits(&name, add(&mut h, [7, 4, 0, 3]));

    table_changes_take_effect_on_the_next_packet(&s, &mut h);
    state_dump_counts_every_packet(&s, h.iter().sum());
    reload_under_traffic_keeps_counting(&s, &mut h);
    mistakes_leave_the_firewall_untouched(&s, &mut h);

    let out = s.stop();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("counters: hits[0]") && stdout.contains("tables: blocklist"), "live view:\n{stdout}");
    assert_gone(&s);
}

fn table_changes_take_effect_on_the_next_packet(s: &Setup, h: &mut [u64; 4]) {
    let (name, host) = (s.name.as_str(), s.host());
    let src = format!("ipv4.src={host}");
    let (_, err) = ok(&["table", "add", name, "acl", "--match", &format!("{src}/32"), "--match", "meta.dport=80", "--action", "mark", "--arg", "port=7"]);
    eprintln!("table add (tuple-space): {:.2} ms", took_ms(&err));
    assert_eq!(udp(&s.pair, 80, 1), 1, "mark passes");
    expect_hits(name, add(h, [0, 0, 1, 0]));

    ok(&["table", "add", name, "acl", "--match", "ipv4.protocol=6", "--match", "meta.dport=8080", "--action", "deny", "--priority", "50"]);
    assert!(!tcp_passes(&s.pair, 8080), "the new rule drops the SYN");
    expect_hits(name, add(h, [0, 1, 0, 0]));

    assert_eq!(udp(&s.pair, 6000, 2), 2);
    let (_, err) = ok(&["table", "add", name, "blocklist", "--match", &src, "--match", "meta.dport=6000", "--action", "deny"]);
    eprintln!("table add (hash): {:.2} ms", took_ms(&err));
    assert_eq!(udp(&s.pair, 6000, 2), 0, "the blocklist entry drops");
    expect_hits(name, add(h, [2, 2, 0, 0]));

    let (list, _) = ok(&["table", "list", name, "acl"]);
    assert!(list.contains("prio    50  ipv4.protocol=6 meta.dport=8080  -> deny()"), "{list}");
    assert!(list.contains(&format!("{src} meta.dport=80  -> mark(port=7)")), "{list}");
    assert!(list.contains("ipv4.src=198.18.0.0/15 ipv4.protocol=17 meta.dport=5000..=5099  -> deny()"), "{list}");
    let (list, _) = ok(&["table", "list", name, "blocklist"]);
    assert!(list.contains(&format!("{src} meta.dport=6000  -> deny()")), "{list}");

    ok(&["table", "del", name, "acl", "--match", "ipv4.protocol=6", "--match", "meta.dport=8080"]);
    assert!(tcp_passes(&s.pair, 8080), "deleted: the SYN passes again");
    expect_hits(name, add(h, [1, 0, 0, 0]));
    let (stats, err) = ok(&["stats", name]);
    eprintln!("stats: {:.2} ms", took_ms(&err));
    assert!(stats.lines().any(|l| l.trim_start().starts_with("acl ") && l.contains("hit rate")), "{stats}");
}

fn state_dump_counts_every_packet(s: &Setup, packets: u64) {
    let (dump, _) = ok(&["state", "dump", &s.name, "seen"]);
    assert!(dump.contains("map seen: (u32) -> u64, idle 30.0s, 1 entries"), "{dump}");
    assert!(dump.contains(&format!("({}) = {packets}  age ", s.host())), "{dump}");
    assert!(!dump.contains("EXPIRED"), "{dump}");
}

/// UDP to `port` every 500 µs until `done` (at most 20,000 datagrams, 20 s).
fn sender(pair: &VethPair, port: u16, sent: Arc<AtomicU64>, done: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let tx = UdpSocket::bind(SocketAddrV4::new(pair.host_addr, 0)).expect("bind sender");
    let to = SocketAddrV4::new(pair.ns_addr, port);
    std::thread::spawn(move || {
        let start = Instant::now();
        while !done.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(20) && sent.load(Ordering::SeqCst) < 20_000 {
            if tx.send_to(b"reload", to).is_ok() {
                sent.fetch_add(1, Ordering::SeqCst);
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    })
}

fn reload_under_traffic_keeps_counting(s: &Setup, h: &mut [u64; 4]) {
    let name = s.name.as_str();
    let (sent, done) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let tx = sender(&s.pair, 7777, sent.clone(), done.clone());
    std::thread::sleep(Duration::from_millis(300));
    let before = hits(name);
    assert!(before[0] > h[0], "7777 is allowed before the reload: {before:?}");
    let old = s.prog_id();

    std::fs::write(s.file("fw2.yaml"), FW_YAML.replace("block_port: 9", "block_port: 7777")).expect("write fw2.yaml");
    let config = s.file("fw2.yaml");
    let (_, err) = ok(&["reload", name, "--config", config.to_str().expect("utf-8")]);
    eprintln!("{err}");
    assert!(err.contains("reloaded") && s.prog_id() != old, "{err}");
    for map in ["hits", "blocklist_rules", "acl_rules", "acl_masks", "seen"] {
        assert!(err.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()[..] == [map, "kept"]), "{map} not kept:\n{err}");
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = hits(name);
    done.store(true, Ordering::SeqCst);
    tx.join().expect("sender");
    assert!(after[3] > before[3], "7777 is blocked by the new config: {before:?} -> {after:?}");
    assert!(after[0] >= before[0], "the counters went on, not reset: {before:?} -> {after:?}");
    // Every datagram was counted exactly once, across the swap.
    let total = sent.load(Ordering::SeqCst);
    let start = Instant::now();
    while hits(name).iter().sum::<u64>() < h.iter().sum::<u64>() + total && start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let now = hits(name);
    assert_eq!(now.iter().sum::<u64>(), h.iter().sum::<u64>() + total, "{total} datagrams sent, counters {h:?} -> {now:?}");
    assert_eq!([now[1], now[2]], [h[1], h[2]]);
    *h = now;
    // The rules added at run time survived the reload.
    assert_eq!(udp(&s.pair, 80, 1), 1);
    expect_hits(name, add(h, [0, 0, 1, 0]));
}

fn mistakes_leave_the_firewall_untouched(s: &Setup, h: &mut [u64; 4]) {
    let name = s.name.as_str();
    let prog = s.prog_id();
    std::fs::write(s.file("bad.yaml"), "block_port: [\n").expect("write bad.yaml");
    let bad = s.file("bad.yaml");
    let err = fails_with(&["reload", name, "--config", bad.to_str().expect("utf-8")], &[], "nfl::E0701");
    assert!(err.contains("is untouched"), "{err}");
    fails_with(&["table", "add", name, "nope", "--action", "deny"], &[], "nfl::E0820");
    fails_with(&["table", "add", name, "acl", "--match", "meta.dport=70000", "--action", "allow"], &[], "nfl::E0825");
    fails_with(&["table", "add", name, "acl", "--match", "ipv4.src=198.18.0.0/16", "--action", "mark"], &[], "nfl::E0827");
    fails_with(&["table", "add", name, "blocklist", "--match", "meta.dport=1", "--action", "deny"], &[], "nfl::E0824");
    fails_with(&["table", "add", name, "fixed", "--match", "meta.dport=2", "--action", "allow"], &[], "nfl::E0821");
    fails_with(&["table", "del", name, "acl", "--priority", "999"], &[], "nfl::E0828");
    fails_with(&["stats", "nosuch-nf"], &[], "nfl::E0807");
    let fw = s.file("fw.nf");
    let err = fails_with(&["run", fw.to_str().expect("utf-8"), "--iface", "nfl-nosuch0", "--name", "nosuch-nf"], &[], "nfl::E0803");
    assert!(err.contains("no network interface named `nfl-nosuch0`"), "{err}");

    let err = fails_with(&["reload", name], &[("NFL_TEST_REJECT_RELOAD", "1")], "nfl::E0906");
    assert!(err.contains("R5 !read_ok") && err.contains("the verifier stopped at") && err.contains("fw.nf:"), "{err}");
    assert!(err.contains("is untouched"), "{err}");
    let leftovers: Vec<String> = pins::pinned_maps(&pins::pin_dir(name));
    let temp = std::fs::read_dir(pins::pin_dir(name)).expect("pins").flatten().any(|e| e.file_name().to_string_lossy().starts_with(pins::TEMP_PREFIX));
    assert!(!temp, "a failed reload left temporary pins: {leftovers:?}");

    assert_eq!(s.prog_id(), prog, "the program was not swapped");
    assert_eq!(udp(&s.pair, 80, 3), 3, "still marking");
    assert_eq!(udp(&s.pair, 7777, 2), 0, "still blocking the reloaded config's port");
    expect_hits(name, add(h, [0, 0, 3, 2]));
}

#[test]
fn watch_reloads_when_the_config_changes() {
    if !nfl_runtime::require_kernel("watch_reloads_when_the_config_changes") {
        return;
    }
    let mut s = Setup::with("watch", FW, FW_YAML);
    s.start(&["--watch"]);
    assert_eq!(udp(&s.pair, 4444, 2), 2);
    let old = s.prog_id();
    let tmp = s.file("fw.yaml.tmp");
    std::fs::write(&tmp, FW_YAML.replace("block_port: 9", "block_port: 4444")).expect("write");
    std::fs::rename(&tmp, s.file("fw.yaml")).expect("rename");
    let start = Instant::now();
    while s.prog_id() == old && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_ne!(s.prog_id(), old, "no reload within 10 s");
    assert_eq!(udp(&s.pair, 4444, 2), 0, "the new config blocks 4444");
    expect_hits(&s.name, [2, 0, 0, 2]);
    let out = s.stop();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = stderr.lines().find(|l| l.contains("from the file change to the new program attached")).unwrap_or_else(|| panic!("{stderr}"));
    eprintln!("watch: {line}");
    assert_gone(&s);
}
