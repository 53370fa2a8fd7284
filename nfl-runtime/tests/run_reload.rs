//! The reload primitive under traffic: program A (counts, XDP_PASS) runs on a
//! veth in a private namespace while UDP flows; a reload swaps in B (counts,
//! XDP_DROP) through the pinned link. Traffic stops arriving at the swap, the
//! link keeps its id while the program id changes, and the pinned map (its
//! counter and a value written before the reload) carries over. A reload the
//! verifier rejects, or of the wrong program type, changes nothing.

mod run_common;

use std::net::{SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nfl_compiler::elf::CtxKind;
use nfl_runtime::attach::Hook;
use nfl_runtime::netns::VethPair;
use nfl_runtime::reload::reload;
use nfl_runtime::run::{RunError, RunSession};
use run_common::*;

const PORT: u16 = 9000;
/// Bounds of the traffic: datagrams and time.
const MAX_DATAGRAMS: u32 = 20_000;
const MAX_TIME: Duration = Duration::from_secs(10);

/// Datagrams carry their sequence number; the receiver (in the namespace)
/// records what arrived until `done`.
fn receiver(pair: &VethPair, done: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<u32>> {
    let (netns, addr) = (pair.netns.clone(), pair.ns_addr);
    std::thread::spawn(move || {
        nfl_runtime::netns::run_in_netns(&netns, move || {
            let sock = UdpSocket::bind(SocketAddrV4::new(addr, PORT)).expect("bind receiver");
            sock.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
            let (start, mut got, mut buf) = (Instant::now(), Vec::new(), [0u8; 16]);
            while !done.load(Ordering::SeqCst) && start.elapsed() < MAX_TIME {
                if let Ok(4) = sock.recv(&mut buf) {
                    got.push(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]));
                }
            }
            got
        })
        .expect("receiver namespace")
    })
}

/// Send numbered datagrams every 200 µs until `done`, publishing the next number.
fn sender(pair: &VethPair, next: Arc<AtomicU32>, done: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let sock = UdpSocket::bind(SocketAddrV4::new(pair.host_addr, 0)).expect("bind sender");
    let to = SocketAddrV4::new(pair.ns_addr, PORT);
    std::thread::spawn(move || {
        let start = Instant::now();
        while !done.load(Ordering::SeqCst) && start.elapsed() < MAX_TIME {
            let seq = next.load(Ordering::SeqCst);
            if seq >= MAX_DATAGRAMS {
                break;
            }
            let _ = sock.send_to(&seq.to_be_bytes(), to);
            next.store(seq + 1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_micros(200));
        }
    })
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn reload_swaps_the_program_under_traffic_and_keeps_the_maps() {
    if !nfl_runtime::require_kernel("reload_swaps_the_program_under_traffic_and_keeps_the_maps") {
        return;
    }
    let name = unique_name("reload");
    let _guard = NameGuard(name.clone());
    let pair = VethPair::new().expect("veth pair");
    let object = counting_object("prog_a", CtxKind::Xdp, XDP_PASS);
    let session = RunSession::start(&config(&name, &pair, object, Hook::Xdp)).expect("start A");
    let old_prog = session.info().prog_id.expect("prog id");
    let mut counts = counts(&name);
    counts.set(1, 0xdead_beef, 0).expect("write counts[1]");

    let (next, done) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicBool::new(false)));
    let rx = receiver(&pair, done.clone());
    std::thread::sleep(Duration::from_millis(100));
    let tx = sender(&pair, next.clone(), done.clone());
    // Let A pass traffic for a while (the first datagrams wait for ARP).
    assert!(wait_until(Duration::from_secs(3), || next.load(Ordering::SeqCst) > 500), "sender stalled");
    let before_reload = next.load(Ordering::SeqCst);
    let runs_before = counts.get(&0, 0).expect("counts[0]");

    let report = reload(&name, &counting_object("prog_b", CtxKind::Xdp, XDP_DROP), None).expect("reload B");
    let after_swap = next.load(Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(3), || next.load(Ordering::SeqCst) > after_swap + 500), "sender stalled");
    done.store(true, Ordering::SeqCst);
    tx.join().expect("sender");
    let got = rx.join().expect("receiver");

    eprintln!(
        "reload: load {:.2} ms, swap {:.3} ms; prog {} -> {}; {} datagrams arrived, swap near #{after_swap}",
        report.load_ms,
        report.swap_ms,
        report.old_prog_id,
        report.new_prog_id,
        got.len()
    );
    let early = got.iter().filter(|&&s| s < before_reload).count();
    assert!(early > 100, "A passed only {early} of {before_reload} datagrams before the reload");
    let late: Vec<u32> = got.iter().copied().filter(|&s| s > after_swap + 1).collect();
    assert!(late.is_empty(), "B let through datagrams sent after the swap: {late:?}");

    assert_eq!(report.old_prog_id, old_prog);
    assert_ne!(report.new_prog_id, old_prog);
    assert_eq!(report.link_id, session.link().id(), "the link keeps its id");
    assert_eq!(session.link().info().expect("link info").prog_id, report.new_prog_id);
    assert_eq!(report.maps_reused, vec!["counts".to_string()]);
    assert!(report.maps_created.is_empty(), "{:?}", report.maps_created);
    assert_eq!(counts.get(&1, 0).expect("counts[1]"), 0xdead_beef, "a value written before the reload survives");
    let runs_after = counts.get(&0, 0).expect("counts[0]");
    assert!(runs_after > runs_before + 400, "B counts into A's map: {runs_before} -> {runs_after}");
    let rec = nfl_runtime::record::read(&nfl_runtime::pins::run_dir(&name)).expect("record");
    assert_eq!((rec.prog_id, rec.reloads), (Some(report.new_prog_id), 1));

    rejected_reload_changes_nothing(&name, &session);
    drop(session);
    assert_eq!(leftovers(&name), Vec::<String>::new());
}

fn rejected_reload_changes_nothing(name: &str, session: &RunSession) {
    let prog = session.link().info().expect("link info").prog_id;
    let err = reload(name, &rejected_object(), None).expect_err("the verifier must refuse it");
    assert!(matches!(err, RunError::Load(_)), "{err:?}");
    let log = err.trimmed_verifier_log().expect("trimmed verifier log");
    assert!(log.contains("R3 !read_ok"), "{log}");
    assert_eq!(session.link().info().expect("link info").prog_id, prog, "the old program stays");
    let pins = nfl_runtime::pins::pinned_maps(&nfl_runtime::pins::pin_dir(name));
    assert_eq!(pins, vec!["counts".to_string()], "the failed load's map pin is gone");

    let tc = counting_object("prog_tc", CtxKind::Tc, 0);
    let err = reload(name, &tc, None).expect_err("a TC program cannot replace an XDP one");
    assert!(matches!(err, RunError::HookMismatch { .. }), "{err:?}");
    assert_eq!(session.link().info().expect("link info").prog_id, prog);
}

#[test]
fn reload_of_nothing_running_is_a_clear_error() {
    if !nfl_runtime::require_kernel("reload_of_nothing_running_is_a_clear_error") {
        return;
    }
    let name = unique_name("none");
    let err = reload(&name, &counting_object("prog_a", CtxKind::Xdp, XDP_PASS), None).expect_err("nothing runs");
    assert!(matches!(err, RunError::NotRunning(ref n) if *n == name), "{err:?}");
    assert!(matches!(reload("Bad/Name", &[], None), Err(RunError::BadName(_))));
    assert_eq!(leftovers(&name), Vec::<String>::new());
}
