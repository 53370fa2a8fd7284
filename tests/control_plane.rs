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
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use nfl_runtime::netns::VethPair;
use nfl_runtime::pins;

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

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Wait for `child`, at most `limit`; kill it if it does not end.
fn finish(child: Child, limit: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait for nflc"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("nflc (pid {pid}) did not finish within {limit:?}");
        }
    }
}

/// `nflc ARGS` with extra environment; (exit code, stdout, stderr).
fn nflc_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nflc"));
    cmd.args(args).envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = finish(cmd.spawn().expect("spawn nflc"), Duration::from_secs(60));
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn nflc(args: &[&str]) -> (i32, String, String) {
    nflc_env(args, &[])
}

/// `nflc ARGS` that must succeed; its stdout and stderr.
fn ok(args: &[&str]) -> (String, String) {
    let (code, out, err) = nflc(args);
    assert_eq!(code, 0, "nflc {args:?} failed:\n{out}\n{err}");
    (out, err)
}

/// `nflc ARGS` that must fail with `code` in a diagnostic with a help line.
fn fails_with(args: &[&str], env: &[(&str, &str)], code: &str) -> String {
    let (status, out, err) = nflc_env(args, env);
    assert_eq!(status, 1, "nflc {args:?} should fail:\n{out}\n{err}");
    assert!(err.contains(code) && err.contains("help:"), "nflc {args:?}: expected {code} with a help line:\n{err}");
    err
}

/// A test network, the firewall's files, and the run: removed on drop.
struct Setup {
    pair: VethPair,
    dir: tempfile::TempDir,
    name: String,
    child: Option<Child>,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        Setup::with(tag, FW, FW_YAML)
    }

    /// Another program (and config) as `fw.nf` (`fw.yaml`).
    fn with(tag: &str, nf: &str, yaml: &str) -> Setup {
        let pair = VethPair::new().expect("veth pair");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("fw.nf"), nf).expect("write fw.nf");
        std::fs::write(dir.path().join("fw.yaml"), yaml).expect("write fw.yaml");
        let name = format!("cp{}-{tag}", std::process::id());
        Setup { pair, dir, name, child: None }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `nflc run fw.nf --iface NS_IF` inside the pair's namespace.
    fn start(&mut self, extra: &[&str]) {
        let netns = format!("--net=/run/netns/{}", self.pair.netns);
        let mut cmd = Command::new("nsenter");
        cmd.arg(netns).arg(env!("CARGO_BIN_EXE_nflc")).arg("run").arg(self.file("fw.nf"));
        cmd.args(["--iface", &self.pair.ns_if, "--name", &self.name, "--hook", "xdp"]).args(extra);
        self.child = Some(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn nsenter nflc run"));
        self.wait_attached();
    }

    fn wait_attached(&mut self) {
        let start = Instant::now();
        let pid = self.child.as_ref().map_or(0, Child::id);
        while start.elapsed() < Duration::from_secs(60) {
            let rec = nfl_runtime::record::read(&pins::run_dir(&self.name));
            if rec.is_some_and(|r| r.pid == pid && r.prog_id.is_some() && r.config.is_some()) {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                let out = self.child.take().map(|c| finish(c, Duration::from_secs(5)));
                panic!("nflc run exited with {status}: {}", out.map(|o| text(&o.stderr)).unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("nflc run did not attach within 60 s");
    }

    /// SIGTERM the run; its output.
    fn stop(&mut self) -> Output {
        let child = self.child.take().expect("running");
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        finish(child, Duration::from_secs(20))
    }

    fn host(&self) -> String {
        self.pair.host_addr.to_string()
    }

    /// The program the run's link runs now.
    fn prog_id(&self) -> Option<u32> {
        nfl_runtime::stats::prog_stats(&self.name).map(|p| p.prog_id)
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let dir = pins::pin_dir(&self.name);
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let _ = std::fs::remove_file(e.path());
        }
        let _ = std::fs::remove_dir(&dir);
        let _ = std::fs::remove_dir_all(pins::run_dir(&self.name));
    }
}

/// `n` datagrams from the host end to `port` on the namespace end; how many
/// a socket bound there received.
fn udp(pair: &VethPair, port: u16, n: usize) -> usize {
    let at = SocketAddrV4::new(pair.ns_addr, port);
    let rx = pair.run_in_ns(move || UdpSocket::bind(at)).expect("namespace").expect("bind receiver");
    rx.set_read_timeout(Some(Duration::from_millis(300))).expect("timeout");
    let tx = UdpSocket::bind(SocketAddrV4::new(pair.host_addr, 0)).expect("bind sender");
    for _ in 0..n {
        tx.send_to(b"control plane", at).expect("send");
    }
    let mut buf = [0u8; 64];
    (0..n).take_while(|_| rx.recv(&mut buf).is_ok()).count()
}

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

fn assert_gone(s: &Setup) {
    for dir in [pins::pin_dir(&s.name), pins::run_dir(&s.name)] {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
    let link = s.pair.show_ns().expect("ip link");
    assert!(!link.contains("prog/xdp"), "still attached:\n{link}");
}

#[test]
fn tables_stats_state_and_reload_on_a_running_firewall() {
    if !nfl_runtime::require_kernel("tables_stats_state_and_reload_on_a_running_firewall") {
        return;
    }
    let mut s = Setup::new("fw");
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
    let mut s = Setup::new("watch");
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
    let out = s.stop();
    assert!(out.status.success(), "{}", text(&out.stderr));
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
