//! Bursts of the examples' own `.test` packets through the compiled examples,
//! attached at every hook in a private namespace: each frame's fate matches
//! the case's verdict (and its `out:` bytes where given), limits and Ctrl-C
//! bound the burst, and nothing (namespace, links, pins, record) stays.

mod run_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use nfl_compiler::frontend::NoModules;
use nfl_runtime::ProgramKind;
use nfl_runtime::attach::Hook;
use nfl_runtime::burst::{BurstRun, run_burst};
use nfl_runtime::run::NfSpec;
use nfl_runtime::signal::StopFlag;
use nfl_runtime::traffic::{Counts, Fate, Frame, Limits, frames_from_cases};
use run_common::*;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("examples").join(name)
}

/// Compile `examples/<ex>.nf`, with its control's hook replaced by `kind`.
fn compile(ex: &str, kind: ProgramKind) -> Vec<u8> {
    let src = std::fs::read_to_string(example(&format!("{ex}.nf"))).expect("read example");
    let src = if kind == ProgramKind::Tc { src.replace(&format!("control {ex}(xdp)"), &format!("control {ex}(tc)")) } else { src };
    match nfl_compiler::driver::build(ex, &src, &mut NoModules) {
        Ok(build) => build.object,
        Err(failed) => panic!("{ex} does not build: {:?}", failed.diagnostics),
    }
}

fn frames(ex: &str, kind: ProgramKind) -> Vec<Frame> {
    let text = std::fs::read_to_string(example(&format!("{ex}.test"))).expect("read .test");
    let mut sources = nfl_syntax::SourceMap::default();
    let (_, cases, diags) = nfl_runtime::testfile::parse_source(&mut sources, ex, &text);
    assert!(diags.is_empty(), "{diags:?}");
    frames_from_cases(&cases, kind)
}

fn burst(ex: &str, hook: Hook, frames: &[Frame], limits: &Limits, stop: &StopFlag) -> BurstRun {
    let name = unique_name(&format!("{}-{ex}", hook.name()));
    let _guard = NameGuard(name.clone());
    let nf = NfSpec { name: name.clone(), source: ex.into(), object: compile(ex, hook.program_kind()), program: None, hook };
    let run = run_burst(&nf, frames, limits, stop).expect("burst");
    assert_eq!(leftovers(&name), Vec::<String>::new());
    let netns = run.info.netns.clone().expect("burst namespace");
    let listed = Command::new("ip").args(["netns", "list"]).output().expect("ip netns");
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(&netns), "namespace {netns} is left");
    run
}

fn check_example(ex: &str, hook: Hook, passed: usize, bounced: usize, dropped: usize) {
    let frames = frames(ex, hook.program_kind());
    let run = burst(ex, hook, &frames, &Limits::default(), &StopFlag::new());
    eprintln!("{ex} at {hook}:\n{}", run.report.format());
    let c = run.report.counts();
    let n = frames.len();
    assert_eq!(
        c,
        Counts { sent: n, passed, bounced, dropped, unseen: 0, not_sent: 0, ok: n, failed: 0 },
        "{}",
        run.report.format()
    );
    assert_eq!(run.report.stray, 0, "{}", run.report.format());
    assert!(run.report.counted, "run counts were not available");
    assert!(!run.report.failed());
}

#[test]
fn static_filter_at_xdp() {
    if nfl_runtime::require_kernel("static_filter_at_xdp") {
        check_example("static_filter", Hook::Xdp, 8, 0, 10);
    }
}

#[test]
fn static_filter_at_generic_xdp() {
    if nfl_runtime::require_kernel("static_filter_at_generic_xdp") {
        check_example("static_filter", Hook::XdpGeneric, 8, 0, 10);
    }
}

#[test]
fn static_filter_at_tc_ingress_and_egress() {
    if nfl_runtime::require_kernel("static_filter_at_tc_ingress_and_egress") {
        check_example("static_filter", Hook::TcIngress, 8, 0, 10);
        check_example("static_filter", Hook::TcEgress, 8, 0, 10);
    }
}

#[test]
fn rewrite_bounces_echoes_with_the_expected_bytes() {
    if nfl_runtime::require_kernel("rewrite_bounces_echoes_with_the_expected_bytes") {
        check_example("rewrite", Hook::Xdp, 3, 4, 0);
        check_example("rewrite", Hook::XdpGeneric, 3, 4, 0);
    }
}

#[test]
fn vlan_frames_come_out_as_they_went_in() {
    if !nfl_runtime::require_kernel("vlan_frames_come_out_as_they_went_in") {
        return;
    }
    // parse_only passes everything; require the passed bytes to equal the input,
    // VLAN tags included (the receive path takes the outer tag out of the frame).
    let mut frames = frames("parse_only", ProgramKind::Xdp);
    for f in &mut frames {
        if let Some(e) = f.expect.as_mut() {
            e.output = Some(f.bytes.clone());
        }
    }
    let run = burst("parse_only", Hook::Xdp, &frames, &Limits::default(), &StopFlag::new());
    assert!(!run.report.failed(), "{}", run.report.format());
    assert_eq!(run.report.counts().passed, frames.len());
}

#[test]
fn a_wrong_expectation_fails_the_burst() {
    if !nfl_runtime::require_kernel("a_wrong_expectation_fails_the_burst") {
        return;
    }
    let mut frames = frames("static_filter", ProgramKind::Xdp);
    let first = frames[0].expect.as_mut().expect("expectation");
    first.verdict = "drop".into();
    first.outcome = Some(nfl_runtime::traffic::Outcome::Dropped);
    let run = burst("static_filter", Hook::Xdp, &frames[..3], &Limits::default(), &StopFlag::new());
    assert!(run.report.failed());
    let text = run.report.format();
    assert!(text.contains("FAIL") && text.contains("expected drop, but the frame was passed"), "{text}");
    assert_eq!(run.report.counts().failed, 1, "{text}");
}

#[test]
fn bursts_are_bounded_and_stoppable() {
    if !nfl_runtime::require_kernel("bursts_are_bounded_and_stoppable") {
        return;
    }
    let frames = frames("static_filter", ProgramKind::Xdp);
    let limits = Limits { max_frames: 5, ..Limits::default() };
    let run = burst("static_filter", Hook::Xdp, &frames, &limits, &StopFlag::new());
    assert_eq!((run.report.frames.len(), run.report.truncated), (5, frames.len() - 5));
    assert!(run.report.summary().contains("frames left out"), "{}", run.report.summary());

    let stop = StopFlag::new();
    stop.request();
    let run = burst("static_filter", Hook::Xdp, &frames, &Limits::default(), &stop);
    assert!(run.report.frames.iter().all(|f| matches!(f.fate, Fate::NotSent(_))));
    assert!(run.report.failed());
}
