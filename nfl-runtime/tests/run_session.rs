//! `RunSession` on a veth in a private namespace: what a run leaves while it
//! runs (pins, link, record), that dropping it removes all of it, that stale
//! leftovers of a dead run are cleared while a live run's name is refused, and
//! that every failure (unknown interface, wrong hook, verifier rejection, busy
//! hook) leaves nothing behind.

mod run_common;

use std::io::Write;
use std::process::{Child, Command};
use std::time::Duration;

use nfl_compiler::elf::CtxKind;
use nfl_runtime::attach::Hook;
use nfl_runtime::live::{LiveView, ProgStatsView, Tick};
use nfl_runtime::netns::VethPair;
use nfl_runtime::record::{self, RunRecord};
use nfl_runtime::run::{RunError, RunSession, WatchEnd, list_running};
use nfl_runtime::signal::StopFlag;
use nfl_runtime::{load::load_with_pins, pins};
use run_common::*;

fn xdp_pass() -> Vec<u8> {
    counting_object("pass_all", CtxKind::Xdp, XDP_PASS)
}

#[test]
fn a_run_pins_links_records_and_cleans_up() {
    if !nfl_runtime::require_kernel("a_run_pins_links_records_and_cleans_up") {
        return;
    }
    let name = unique_name("life");
    let _guard = NameGuard(name.clone());
    let pair = VethPair::new().expect("veth pair");
    let session = RunSession::start(&config(&name, &pair, xdp_pass(), Hook::Xdp)).expect("start");
    let t = session.timings();
    eprintln!("load {:.2} ms, attach {:.2} ms", t.load_ms, t.attach_ms);

    let pin_dir = pins::pin_dir(&name);
    assert_eq!(pins::pinned_maps(&pin_dir), vec!["counts".to_string()]);
    assert!(pin_dir.join("link").exists());
    let rec = record::read(&pins::run_dir(&name)).expect("state.json");
    assert_eq!(rec.pid, std::process::id());
    assert_eq!((rec.hook, rec.iface.as_str(), rec.netns.as_deref()), (Hook::Xdp, pair.ns_if.as_str(), Some(pair.netns.as_str())));
    assert_eq!(rec.prog_id, Some(session.link().info().expect("link").prog_id));
    assert_eq!(rec.maps, vec!["counts".to_string()]);
    let object = std::fs::read(pins::run_dir(&name).join("object.o")).expect("object copy");
    assert_eq!(object, xdp_pass());
    assert!(pair.show_ns().expect("ip link").contains("prog/xdp"), "no XDP program on {}", pair.ns_if);
    let running = list_running();
    assert!(running.iter().any(|r| r.name == name && r.alive && r.pid == std::process::id()));

    drop(session);
    assert_eq!(leftovers(&name), Vec::<String>::new());
    assert!(!pair.show_ns().expect("ip link").contains("prog/xdp"), "still attached after drop");
    assert!(!list_running().iter().any(|r| r.name == name));
}

/// Counts ticks, to show that views plug into `watch`.
struct TickCounter(u64);

impl LiveView for TickCounter {
    fn tick(&mut self, tick: &Tick<'_>, out: &mut dyn Write) -> std::io::Result<()> {
        self.0 = tick.n;
        writeln!(out, "tick {} of {}", tick.n, tick.info.name)
    }
}

#[test]
fn watch_ticks_every_second_until_stopped() {
    if !nfl_runtime::require_kernel("watch_ticks_every_second_until_stopped") {
        return;
    }
    let name = unique_name("watch");
    let _guard = NameGuard(name.clone());
    let pair = VethPair::new().expect("veth pair");
    let session = RunSession::start(&config(&name, &pair, xdp_pass(), Hook::XdpGeneric)).expect("start");
    let mut views: Vec<Box<dyn LiveView>> = vec![Box::new(ProgStatsView), Box::new(TickCounter(0))];
    let mut out = Vec::new();
    let end = session.watch(&mut views, &mut out, &StopFlag::new(), Some(Duration::from_millis(2500))).expect("watch");
    assert_eq!(end, WatchEnd::TimeLimit);
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.contains(&format!("tick 2 of {name}")), "{text}");
    assert!(text.lines().next().is_some_and(|l| l.contains("runs/s")), "{text}");

    let stop = StopFlag::new();
    stop.request();
    let end = session.watch(&mut views, &mut Vec::new(), &stop, None).expect("watch");
    assert_eq!(end, WatchEnd::Stopped);
}

#[test]
fn stale_pins_of_a_dead_run_are_removed() {
    if !nfl_runtime::require_kernel("stale_pins_of_a_dead_run_are_removed") {
        return;
    }
    let name = unique_name("stale");
    let _guard = NameGuard(name.clone());
    // A run that died: its record names a pid that is gone, its pins remain.
    let mut dead = Command::new("true").spawn().expect("spawn true");
    dead.wait().expect("wait");
    write_record(&name, dead.id(), None);
    std::fs::create_dir_all(pins::pin_dir(&name)).expect("pin dir");
    drop(load_with_pins(&xdp_pass(), None, Some(&pins::pin_dir(&name))).expect("load to leave a pin"));
    assert!(pins::pin_dir(&name).join("counts").exists());

    let pair = VethPair::new().expect("veth pair");
    let session = RunSession::start(&config(&name, &pair, xdp_pass(), Hook::Xdp)).expect("start over stale pins");
    let notes = session.notes().join("\n");
    assert!(notes.contains("stale") && notes.contains(&dead.id().to_string()), "{notes}");
    assert_eq!(record::read(&pins::run_dir(&name)).expect("record").pid, std::process::id());
    drop(session);
    assert_eq!(leftovers(&name), Vec::<String>::new());
}

/// A child that lives until dropped.
struct Alive(Child);

impl Drop for Alive {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_live_run_keeps_its_name() {
    if !nfl_runtime::require_kernel("a_live_run_keeps_its_name") {
        return;
    }
    let name = unique_name("busy");
    let _guard = NameGuard(name.clone());
    let other = Alive(Command::new("sleep").arg("30").spawn().expect("spawn sleep"));
    let pid = other.0.id();
    write_record(&name, pid, record::process_start(pid));
    let pair = VethPair::new().expect("veth pair");
    let err = RunSession::start(&config(&name, &pair, xdp_pass(), Hook::Xdp)).err().expect("refused");
    assert!(matches!(err, RunError::AlreadyRunning { pid: p, .. } if p == pid), "{err:?}");
    assert!(err.to_string().contains(&format!("already running, pid {pid}; stop it first")), "{err}");
    assert_eq!(record::read(&pins::run_dir(&name)).expect("record").pid, pid, "the live run's record stays");
    assert!(!pins::pin_dir(&name).exists());
}

fn write_record(name: &str, pid: u32, pid_start: Option<u64>) {
    let dir = pins::run_dir(name);
    std::fs::create_dir_all(&dir).expect("run dir");
    let rec = RunRecord {
        name: name.into(),
        pid,
        pid_start,
        source: "old.nf".into(),
        program: "old".into(),
        hook: Hook::Xdp,
        iface: "gone0".into(),
        ifindex: 99,
        netns: None,
        prog_id: None,
        link_id: None,
        started_unix_ms: 0,
        pin_dir: pins::pin_dir(name),
        maps: Vec::new(),
        reloads: 0,
        config: None,
        target: None,
    };
    record::write(&dir, &rec).expect("write record");
}

#[test]
fn failures_leave_nothing_behind() {
    if !nfl_runtime::require_kernel("failures_leave_nothing_behind") {
        return;
    }
    let name = unique_name("fail");
    let _guard = NameGuard(name.clone());
    let pair = VethPair::new().expect("veth pair");

    let mut cfg = config(&name, &pair, xdp_pass(), Hook::Xdp);
    cfg.iface = "nfl-no-such0".into();
    let err = RunSession::start(&cfg).err().expect("unknown interface");
    assert!(matches!(err, RunError::UnknownInterface { .. }), "{err:?}");
    assert_eq!(leftovers(&name), Vec::<String>::new());

    let err = RunSession::start(&config(&name, &pair, xdp_pass(), Hook::TcIngress)).err().expect("wrong hook");
    assert!(matches!(err, RunError::HookMismatch { .. }), "{err:?}");
    assert_eq!(leftovers(&name), Vec::<String>::new());

    let err = RunSession::start(&config(&name, &pair, rejected_object(), Hook::Xdp)).err().expect("rejected");
    assert!(err.trimmed_verifier_log().is_some_and(|l| l.contains("R3 !read_ok")), "{err:?}");
    assert_eq!(leftovers(&name), Vec::<String>::new());

    let err = RunSession::start(&config("Bad.Name", &pair, xdp_pass(), Hook::Xdp)).err().expect("bad name");
    assert!(matches!(err, RunError::BadName(_)), "{err:?}");

    // A second run on a hook that already has a link: EBUSY, and nothing of it stays.
    let first = RunSession::start(&config(&name, &pair, xdp_pass(), Hook::Xdp)).expect("first");
    let second_name = unique_name("fail2");
    let _guard2 = NameGuard(second_name.clone());
    let err = RunSession::start(&config(&second_name, &pair, xdp_pass(), Hook::Xdp)).err().expect("busy");
    assert!(matches!(err, RunError::Attach { .. }), "{err:?}");
    assert_eq!(leftovers(&second_name), Vec::<String>::new());
    assert_eq!(first.link().info().expect("first link").ifindex, first.info().ifindex);
    drop(first);
    assert_eq!(leftovers(&name), Vec::<String>::new());
}

#[test]
fn tcx_links_attach_at_ingress_and_egress() {
    if !nfl_runtime::require_kernel("tcx_links_attach_at_ingress_and_egress") {
        return;
    }
    let pair = VethPair::new().expect("veth pair");
    for hook in [Hook::TcIngress, Hook::TcEgress] {
        let name = unique_name(hook.name());
        let _guard = NameGuard(name.clone());
        let object = counting_object("tc_ok", CtxKind::Tc, 0);
        let session = RunSession::start(&config(&name, &pair, object, hook)).expect("start tc");
        assert_eq!(session.info().hook, hook);
        assert!(session.link().info().expect("link").prog_id > 0);
        drop(session);
        assert_eq!(leftovers(&name), Vec::<String>::new());
    }
}
