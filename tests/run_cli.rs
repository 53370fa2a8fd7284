//! `nflc run`, end to end through the binary: a burst of the example's own
//! packets that matches its `.test` file and leaves nothing behind; a run on a
//! veth that filters real UDP and cleans up on SIGTERM; a SIGKILLed run whose
//! pinned link outlives it until the next run clears it; and the E08xx errors.
//! Addresses only from 198.18.0.0/15, bounded traffic and waits, and Drop
//! guards that kill children and remove pins even when an assertion fails.

use std::net::{SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nfl_runtime::netns::VethPair;
use nfl_runtime::pins;

mod common;

use common::live::{end_run, finish, text};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn nflc() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nflc"));
    cmd.current_dir(root()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

/// A running `nflc run`, killed on drop; its run's pins and record go too.
struct Running {
    child: Option<Child>,
    name: String,
}

impl Running {
    fn start(args: &[&str], name: &str) -> Running {
        let child = nflc().arg("run").args(args).args(["--name", name]).spawn().expect("spawn nflc run");
        Running { child: Some(child), name: name.to_string() }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Wait until the run record shows this process attached.
    fn wait_attached(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            let rec = nfl_runtime::record::read(&pins::run_dir(&self.name));
            if rec.is_some_and(|r| r.pid == self.pid() && r.prog_id.is_some()) {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                let out = self.child.take().map(|c| finish(c, Duration::from_secs(5)));
                panic!("nflc exited with {status}: {}", out.map(|o| text(&o.stderr)).unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nflc run did not attach within 60 s");
    }

    fn stop(&mut self, sig: &str) -> Output {
        signal(self.pid(), sig);
        finish(self.child.take().expect("child"), Duration::from_secs(20))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        end_run(self.child.take(), &self.name);
    }
}

fn assert_clean(name: &str) {
    for dir in [pins::pin_dir(name), pins::run_dir(name)] {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
}

fn ip(args: &[&str]) -> String {
    text(&Command::new("ip").args(args).output().expect("run ip").stdout)
}

#[test]
fn burst_of_static_filter_matches_its_test_file_and_leaves_nothing() {
    if !nfl_runtime::require_kernel("burst_of_static_filter_matches_its_test_file") {
        return;
    }
    let child = nflc().args(["run", "examples/static_filter.nf"]).spawn().expect("spawn");
    let pid = child.id();
    let out = finish(child, Duration::from_secs(120));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("sent 18, passed 8, bounced (tx) 0, dropped 10; 18 of 18 as the .test expects"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().filter(|l| l.contains(" ok ")).count(), 18, "{stdout}");
    assert!(stderr.contains("burst: 18 frame(s) from examples/static_filter.test"), "{stderr}");
    assert_clean(&format!("static_filter-{pid}"));
    assert!(!ip(&["netns", "list"]).contains(&format!("nfl-{pid}-")), "namespace left");
    let links = ip(&["-br", "link"]);
    assert!(!links.contains(&format!("nfl{pid}")) && !links.contains(&format!("nfl{}", pid % 1_000_000)), "{links}");
}

/// Datagrams from the namespace end to `port` on the host end; how many arrive.
fn udp_through(pair: &VethPair, port: u16) -> usize {
    let rx = UdpSocket::bind(SocketAddrV4::new(pair.host_addr, port)).expect("bind receiver");
    rx.set_read_timeout(Some(Duration::from_millis(300))).expect("timeout");
    let (from, to) = (pair.ns_addr, SocketAddrV4::new(pair.host_addr, port));
    pair.run_in_ns(move || {
        let tx = UdpSocket::bind(SocketAddrV4::new(from, 0)).expect("bind sender");
        for _ in 0..5 {
            let _ = tx.send_to(b"nflc run", to);
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .expect("sender namespace");
    let mut buf = [0u8; 64];
    (0..5).take_while(|_| rx.recv(&mut buf).is_ok()).count()
}

#[test]
fn attached_run_filters_real_udp_and_cleans_up_on_sigterm() {
    if !nfl_runtime::require_kernel("attached_run_filters_real_udp_and_cleans_up_on_sigterm") {
        return;
    }
    let pair = VethPair::new().expect("veth pair");
    let name = format!("cli-{}-term", std::process::id());
    let mut run = Running::start(&["examples/static_filter.nf", "--iface", &pair.host_if], &name);
    run.wait_attached();
    assert!(pair.show_host().expect("ip link").contains("prog/xdp"));
    let open = udp_through(&pair, 5353);
    let blocked = udp_through(&pair, 27010);
    assert!(open >= 3, "only {open} of 5 datagrams to an open port arrived");
    assert_eq!(blocked, 0, "datagrams to the game port range got through");
    std::thread::sleep(Duration::from_millis(1200)); // at least one tick of the live view

    let out = run.stop("-TERM");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("runs/s") && stdout.lines().count() >= 2, "{stdout}");
    assert!(stderr.contains("stopped:") && stderr.contains("attached in"), "{stderr}");
    assert_clean(&name);
    assert!(!pair.show_host().expect("ip link").contains("prog/xdp"), "still attached");
}

#[test]
fn a_killed_run_stays_attached_until_the_next_run_clears_it() {
    if !nfl_runtime::require_kernel("a_killed_run_stays_attached_until_the_next_run_clears_it") {
        return;
    }
    let pair = VethPair::new().expect("veth pair");
    let name = format!("cli-{}-kill", std::process::id());
    let args = ["examples/static_filter.nf", "--iface", &pair.host_if, "--hook", "xdp-generic"];
    let mut first = Running::start(&args, &name);
    first.wait_attached();
    let killed = first.pid();
    let _ = first.stop("-KILL");
    assert!(pins::link_pin(&name).exists(), "a SIGKILLed run cannot clean up");
    assert!(pair.show_host().expect("ip link").contains("prog/xdp"), "the pinned link keeps it attached");

    let mut second = Running::start(&args, &name);
    second.wait_attached();
    let out = second.stop("-TERM");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("removed the stale pins of `{name}` left by pid {killed}")), "{stderr}");
    assert_clean(&name);
    assert!(!pair.show_host().expect("ip link").contains("prog/xdp"), "still attached");
}

/// A pcap file (microsecond, little-endian, Ethernet) holding `frames`.
fn write_pcap(path: &Path, frames: &[&[u8]]) {
    let mut bytes = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65_535, 1] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    for f in frames {
        for v in [1u32, 0, f.len() as u32, f.len() as u32] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes.extend_from_slice(f);
    }
    std::fs::write(path, bytes).expect("write pcap");
}

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap_or("0"), 16).unwrap_or(0)).collect()
}

/// A UDP frame 198.18.0.1 -> 198.18.0.2 to port `dst_port` (4 hex digits), as in
/// static_filter.test.
fn udp_frame(dst_port: &str) -> Vec<u8> {
    let head = "020000000002 020000000001 0800 4500 0021 1234 0000 4011 dc70 c6120001 c6120002";
    hex(&format!("{head} 9c40 {dst_port} 000d 0000 68656c6c6f"))
}

#[test]
fn a_capture_can_replace_the_test_packets() {
    if !nfl_runtime::require_kernel("a_capture_can_replace_the_test_packets") {
        return;
    }
    // "dns query passes" and "game port range start is dropped" of static_filter.test.
    let (pass, drop) = (udp_frame("0035"), udp_frame("6978"));
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("two.pcap");
    write_pcap(&pcap, &[&pass, &drop]);
    let out = finish(
        nflc().args(["run", "examples/static_filter.nf", "--pcap"]).arg(&pcap).spawn().expect("spawn"),
        Duration::from_secs(120),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("sent 2, passed 1, bounced (tx) 0, dropped 1 ("), "{stdout}");
}

fn error_of(args: &[&str]) -> String {
    let out = finish(nflc().arg("run").args(args).spawn().expect("spawn"), Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    text(&out.stderr)
}

#[test]
fn mistakes_are_diagnostics_with_codes() {
    let err = error_of(&["examples/static_filter.nf", "--iface", "nfl-nosuch0"]);
    assert!(err.contains("nfl::E0803") && err.contains("no network interface named `nfl-nosuch0`"), "{err}");
    assert!(err.contains("help:"), "{err}");
    let err = error_of(&["examples/static_filter.nf", "--hook", "tc-ingress"]);
    assert!(err.contains("nfl::E0804") && err.contains("is for xdp, but hook tc-ingress"), "{err}");
    let err = error_of(&["examples/static_filter.nf", "--name", "Not.Valid"]);
    assert!(err.contains("nfl::E0801"), "{err}");
    let err = error_of(&["examples/static_filter.nf", "--pcap", "/nonexistent/x.pcap"]);
    assert!(err.contains("nfl::E0811"), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let lone = dir.path().join("lone.nf");
    std::fs::copy(root().join("examples/static_filter.nf"), &lone).expect("copy");
    let err = error_of(&[lone.to_str().expect("utf-8 path")]);
    assert!(err.contains("nfl::E0810") && err.contains("lone.test"), "{err}");

    let out = nflc().args(["run", "examples/static_filter.nf", "--iface", "x", "--pcap", "y"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "clap refuses --pcap with --iface");
}

#[test]
fn ctrl_c_stops_a_burst_and_cleans_up() {
    if !nfl_runtime::require_kernel("ctrl_c_stops_a_burst_and_cleans_up") {
        return;
    }
    // 2,000 frames that static_filter drops: about 6 s of settle time, so the
    // SIGINT lands in the middle of the burst.
    let drop = udp_frame("6978");
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("many.pcap");
    write_pcap(&pcap, &vec![drop.as_slice(); 2000]);
    let name = format!("cli-{}-int", std::process::id());
    let mut run = Running::start(&["examples/static_filter.nf", "--pcap", pcap.to_str().expect("utf-8")], &name);
    run.wait_attached();
    let pid = run.pid();
    std::thread::sleep(Duration::from_millis(300));
    let out = run.stop("-INT");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("stopped (Ctrl-C or SIGTERM)") && stdout.contains("not sent"), "{stdout}");
    assert_clean(&name);
    assert!(!ip(&["netns", "list"]).contains(&format!("nfl-{pid}-")), "namespace left");
}
