//! The objects nflc writes load with the ecosystem's own loaders:
//! `bpftool prog load` (libbpf) and `ip link set ... xdp obj` (iproute2) on a
//! veth in a private namespace, where real UDP traffic then meets the
//! program. Only 198.18.0.0/15 addresses, bounded traffic, and everything is
//! removed on drop, even when an assertion fails.

mod common;

use std::net::{SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

/// A bpffs pin removed on drop.
struct Pin(PathBuf);

impl Drop for Pin {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn write_object(dir: &Path, example: &str) -> PathBuf {
    let build = build_ok(&root().join(format!("examples/{example}.nf")));
    let path = dir.join(format!("{example}.o"));
    std::fs::write(&path, &build.object).expect("write object");
    path
}

fn tool_exists(name: &str) -> bool {
    Command::new(name).arg("--version").output().is_ok_and(|o| o.status.success())
        || Command::new(name).arg("-V").output().is_ok_and(|o| o.status.success())
}

fn require_tool(name: &str) -> bool {
    if tool_exists(name) {
        return true;
    }
    assert!(std::env::var("NFL_REQUIRE_KERNEL").as_deref() != Ok("1"), "{name} is not installed");
    eprintln!("=== SKIPPED: {name} is not installed ===");
    false
}

/// `bpftool prog load OBJ PIN type xdp`; what `bpftool prog show` says.
fn bpftool_load(obj: &Path, tag: &str) -> String {
    let bpffs = nfl_runtime::ensure_bpffs().expect("bpffs");
    let pin = Pin(bpffs.join(format!("nfl-test-loader-{tag}-{}", std::process::id())));
    let out = Command::new("bpftool")
        .args(["prog", "load"])
        .arg(obj)
        .arg(&pin.0)
        .args(["type", "xdp"])
        .output()
        .expect("run bpftool");
    assert!(out.status.success(), "bpftool prog load failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let show = Command::new("bpftool").args(["prog", "show", "pinned"]).arg(&pin.0).output().expect("bpftool show");
    String::from_utf8_lossy(&show.stdout).into_owned()
}

#[test]
fn bpftool_loads_static_filter() {
    if !nfl_runtime::require_kernel("bpftool_loads_static_filter") || !require_tool("bpftool") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let text = bpftool_load(&write_object(dir.path(), "static_filter"), "sf");
    assert!(text.contains("xdp") && text.contains("static_filter"), "unexpected: {text}");
}

/// A stock-profile object, with kfunc calls as `.ksyms` externs and the
/// rbtree's BTF, loads with libbpf as it is: libbpf resolves the kfuncs.
#[test]
fn bpftool_loads_the_stock_scheduler_with_its_kfuncs() {
    if !nfl_runtime::require_kernel("bpftool_loads_the_stock_scheduler_with_its_kfuncs") || !require_tool("bpftool") {
        return;
    }
    let path = root().join("examples/scheduler.nf");
    let text = std::fs::read_to_string(&path).expect("read");
    let build = nfl_compiler::driver::build_for("scheduler.nf", &text, &mut DirLoader(root().join("examples")), None, nfl_compiler::target::Target::Stock)
        .unwrap_or_else(|_| panic!("scheduler builds for stock"));
    let dir = tempfile::tempdir().expect("tempdir");
    let obj = dir.path().join("scheduler.o");
    std::fs::write(&obj, &build.object).expect("write object");
    let shown = bpftool_load(&obj, "sched");
    assert!(shown.contains("scheduler"), "unexpected: {shown}");
}

#[test]
fn iproute2_attaches_static_filter_and_real_traffic_obeys_it() {
    if !nfl_runtime::require_kernel("iproute2_attaches_static_filter") || !require_tool("ip") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let obj = write_object(dir.path(), "static_filter");
    let pair = nfl_runtime::netns::VethPair::new().expect("veth pair");
    nfl_runtime::netns::attach_xdp_with_ip_in(Some(&pair.netns), &pair.ns_if, &obj, "xdp").expect("ip link xdp obj");
    let id = nfl_runtime::netns::xdp_prog_id(Some(&pair.netns), &pair.ns_if).expect("ip link show");
    assert!(id.is_some(), "no XDP program on {}", pair.ns_if);

    // A receiver inside the namespace on an allowed and a filtered port.
    let ns_addr = pair.ns_addr;
    let receiver = {
        let netns = pair.netns.clone();
        std::thread::spawn(move || {
            nfl_runtime::netns::run_in_netns(&netns, move || {
                let open = UdpSocket::bind(SocketAddrV4::new(ns_addr, 5353)).expect("bind 5353");
                let blocked = UdpSocket::bind(SocketAddrV4::new(ns_addr, 27010)).expect("bind 27010");
                let count = |s: &UdpSocket| {
                    s.set_read_timeout(Some(Duration::from_millis(300))).expect("timeout");
                    let mut buf = [0u8; 64];
                    let mut n = 0;
                    // Bounded: at most 20 reads of at most 300 ms.
                    for _ in 0..20 {
                        match s.recv(&mut buf) {
                            Ok(_) => n += 1,
                            Err(_) => break,
                        }
                    }
                    n
                };
                std::thread::sleep(Duration::from_millis(200));
                (count(&open), count(&blocked))
            })
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let sender = UdpSocket::bind(SocketAddrV4::new(pair.host_addr, 0)).expect("bind sender");
    // The first datagrams may wait for ARP; the XDP program passes ARP.
    for _ in 0..5 {
        sender.send_to(b"allowed", SocketAddrV4::new(ns_addr, 5353)).expect("send");
        sender.send_to(b"blocked", SocketAddrV4::new(ns_addr, 27010)).expect("send");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (open, blocked) = receiver.join().expect("receiver thread").expect("netns");
    assert!(open >= 3, "only {open} of 5 datagrams to an allowed port arrived");
    assert_eq!(blocked, 0, "datagrams to the game port range got through");
    nfl_runtime::netns::detach_xdp_with_ip_in(Some(&pair.netns), &pair.ns_if).expect("detach");
}
