//! `nflc build --stats` and `--max-insns` on split programs, and `nflc
//! test` through a chain of stages.

mod common;

use common::live::{fails_with, nflc, ok};
use common::root;

fn path(rel: &str) -> String {
    root().join(rel).display().to_string()
}

#[test]
fn stats_print_every_stage_with_the_verifier_count() {
    if !nfl_runtime::require_kernel("stats_print_every_stage_with_the_verifier_count") {
        return;
    }
    let out = tempfile::tempdir().expect("tempdir");
    let obj = out.path().join("stages.o");
    let (_, err) = ok(&["build", &path("tests/ok/stages.nf"), "-o", obj.to_str().expect("utf-8"), "--stats"]);
    assert!(err.contains("staged: 4 stages chained by tail calls"), "{err}");
    for stage in ["staged:", "staged_stage1:", "staged_stage2:", "staged_stage3:"] {
        let line = err.lines().find(|l| l.starts_with(stage) && l.contains("insns")).unwrap_or_else(|| panic!("no line for {stage}:\n{err}"));
        let processed = line.rsplit("verifier processed ").next().and_then(|n| n.trim().parse::<u32>().ok());
        assert!(processed.is_some_and(|n| n > 0), "{line}");
        assert!(line.contains("estimated") && line.contains("bytes of stack"), "{line}");
    }
}

#[test]
fn max_insns_splits_and_the_packet_tests_still_pass() {
    if !nfl_runtime::require_kernel("max_insns_splits_and_the_packet_tests_still_pass") {
        return;
    }
    let router = path("examples/router.nf");
    let out = tempfile::tempdir().expect("tempdir");
    let obj = out.path().join("router.o");
    let (_, whole) = ok(&["build", &router, "-o", obj.to_str().expect("utf-8"), "--stats"]);
    assert!(!whole.contains("stages chained"), "{whole}");
    let (_, split) = ok(&["build", &router, "-o", obj.to_str().expect("utf-8"), "--stats", "--max-insns", "400"]);
    assert!(split.contains("router: 2 stages chained by tail calls"), "{split}");
    for line in split.lines().filter(|l| l.contains(" insns, ")) {
        let n: usize = line.split(": ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).expect("insns");
        assert!(n <= 400, "{line}");
    }
    let (code, stdout, stderr) = nflc(&["test", &router, "--max-insns", "400"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("27 passed, 0 failed"), "{stdout}");
}

#[test]
fn a_statement_over_the_budget_is_e0940() {
    let out = tempfile::tempdir().expect("tempdir");
    let obj = out.path().join("router.o");
    let err = fails_with(&["build", &path("examples/router.nf"), "-o", obj.to_str().expect("utf-8"), "--max-insns", "200"], &[], "nfl::E0940");
    assert!(err.contains("budget 200") && err.contains("too large for one stage"), "{err}");
    assert!(!obj.exists());
}

/// A split program that rewrites a field the parser branches on, before
/// its last stage, is E0942 (the checker alone accepts it: it is a build
/// error, so it lives here and not in tests/err).
#[test]
fn rewriting_a_parsed_field_before_the_last_stage_is_e0942() {
    let out = tempfile::tempdir().expect("tempdir");
    let obj = out.path().join("e.o");
    let err = fails_with(&["build", &path("tests/stages/e0942_rewrites_parsed_field.nf"), "-o", obj.to_str().expect("utf-8")], &[], "nfl::E0942");
    assert!(err.contains("ethernet.ethertype = 0x0800") && err.contains("later stages re-parse"), "{err}");
}
