//! The `nflc` binary, end to end: exit codes, output, and that a failed
//! build leaves nothing behind.

mod common;

use std::process::{Command, Output};

use common::root;

fn nflc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nflc")).args(args).current_dir(root()).output().expect("run nflc")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn check_accepts_an_example() {
    let o = nflc(&["check", "examples/static_filter.nf"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("ok: examples/static_filter.nf"));
}

#[test]
fn check_reports_every_error_plainly_off_a_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.nf");
    std::fs::write(
        &bad,
        "import std.net\nheader h { a: u3 }\ncontrol c(xdp) {\n  let x: u8 = ipv4.ttl\n  if 5 { drop }\n}\n",
    )
    .expect("write");
    let o = nflc(&["check", bad.to_str().expect("utf-8 path")]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    for code in ["nfl::E0302", "nfl::E0502", "nfl::E0309"] {
        assert!(err.contains(code), "missing {code} in:\n{err}");
    }
    assert!(err.contains("help:"), "{err}");
    assert!(!err.contains('\x1b'), "colour escapes when not on a terminal:\n{err}");
    assert!(err.contains("3 errors"), "{err}");
}

#[test]
fn colour_can_be_forced() {
    let o = nflc(&["--color", "always", "check", "tests/err/e0304_width_mismatch.nf"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains('\x1b'));
}

#[test]
fn build_writes_an_object_that_disassembles_like_the_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("filter.o");
    let o = nflc(&["build", "examples/static_filter.nf", "-o", out.to_str().expect("path"), "--stats"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("insns"), "{}", stderr(&o));
    let bytes = std::fs::read(&out).expect("object written");
    assert!(bytes.starts_with(b"\x7fELF"));
    let from_obj = nflc(&["disasm", out.to_str().expect("path")]);
    let from_src = nflc(&["disasm", "examples/static_filter.nf"]);
    assert!(from_obj.status.success() && from_src.status.success());
    assert_eq!(stdout(&from_obj), stdout(&from_src));
    assert!(stdout(&from_obj).contains("exit"));
}

#[test]
fn failed_build_leaves_no_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("never.o");
    let o = nflc(&["build", "tests/err/e0405_unbounded_parser_loop.nf", "-o", out.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!out.exists(), "a failed build wrote {}", out.display());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("read dir").collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn missing_file_is_a_clear_error() {
    let o = nflc(&["build", "no/such/file.nf"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot read no/such/file.nf"), "{}", stderr(&o));
}

#[test]
fn emit_prints_each_stage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("x.o");
    let path = out.to_str().expect("path");
    for (emit, needle) in [("ast", "Module"), ("ir", "fn parse_only(xdp)"), ("ir-opt", "bounds"), ("asm", "exit")] {
        let o = nflc(&["build", "examples/parse_only.nf", "-o", path, "--emit", emit]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains(needle), "--emit {emit}: no {needle:?}");
    }
}

#[test]
fn test_command_runs_packet_cases_in_the_kernel() {
    if !nfl_runtime::require_kernel("test_command_runs_packet_cases_in_the_kernel") {
        return;
    }
    let o = nflc(&["test", "examples/rewrite.nf"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("7 passed, 0 failed"), "{}", stdout(&o));
}

/// The `loaded PROG (target T): N insns ...` line of `nflc test`.
fn loaded_line(o: &Output) -> String {
    stderr(o).lines().find(|l| l.starts_with("loaded ")).unwrap_or_default().to_string()
}

#[test]
fn test_command_builds_for_the_target_it_is_given() {
    if !nfl_runtime::require_kernel("test_command_builds_for_the_target_it_is_given") {
        return;
    }
    let stock = nflc(&["test", "examples/scheduler.nf", "--target", "stock"]);
    assert!(stock.status.success(), "{}{}", stdout(&stock), stderr(&stock));
    assert!(stdout(&stock).contains(" passed, 0 failed"), "{}", stdout(&stock));
    let helpers = nflc(&["test", "examples/scheduler.nf"]);
    assert!(helpers.status.success(), "{}{}", stdout(&helpers), stderr(&helpers));
    let (s, h) = (loaded_line(&stock), loaded_line(&helpers));
    assert!(s.starts_with("loaded scheduler (target stock): "), "{s}");
    assert!(h.starts_with("loaded scheduler (target helpers): "), "the default is helpers: {h}");
    // The rbtree pqueue is a different program from the heap one.
    let insns = |l: &str| l.split(": ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse::<u32>().ok());
    assert!(insns(&s).is_some() && insns(&s) != insns(&h), "same program for both targets:\n{s}\n{h}");
    let bad = nflc(&["test", "examples/scheduler.nf", "--target", "fast"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("helpers, stock, enetstl, auto"), "{}", stderr(&bad));
}

#[test]
fn test_command_shows_a_byte_diff_on_mismatch() {
    if !nfl_runtime::require_kernel("test_command_shows_a_byte_diff_on_mismatch") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = dir.path().join("wrong.test");
    let text = std::fs::read_to_string(root().join("examples/rewrite.test")).expect("read");
    // Expect the original TTL to survive: the reflector rewrites it to 64.
    let first_case_end = text.find("\ncase ").and_then(|i| text[i + 1..].find("\ncase ").map(|j| i + 1 + j));
    let first = &text[..first_case_end.unwrap_or(text.len())];
    let wrong = first.replacen("00 00 40 11 dc 6e", "00 00 41 11 dc 6e", 1);
    assert_ne!(wrong, first, "fixture changed; update this test");
    std::fs::write(&cases, wrong).expect("write");
    let o = nflc(&["test", "examples/rewrite.nf", "--cases", cases.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("FAIL"), "{out}");
    assert!(out.contains("0 passed, 1 failed"), "{out}");
}

#[test]
fn malformed_test_file_gets_a_diagnostic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = dir.path().join("bad.test");
    std::fs::write(&cases, "case \"x\"\nin: 02 00 zz\nexpect: maybe\n").expect("write");
    let o = nflc(&["test", "examples/parse_only.nf", "--cases", cases.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("nfl::E06"), "{err}");
}

#[test]
fn help_lists_the_commands_that_exist() {
    let o = nflc(&["--help"]);
    let out = stdout(&o);
    for cmd in ["check", "build", "disasm", "test", "sketch", "queue"] {
        assert!(out.contains(cmd), "{out}");
    }
}

const CONFIGURED: &str = "import std.net
config {
    guard: bool = true
    trusted: set<u32> = {198.18.0.0/16}
}
action deny() { drop }
table acl {
    key { ipv4.src: ternary }
    actions { deny }
    size 16
}
control c(xdp) {
    if !ipv4.valid { pass }
    if ipv4.src in config.trusted { pass }
    if config.guard { acl.apply() }
    pass
}
";

/// A mistake in the YAML config is reported at its line in the YAML file,
/// and nothing is written.
#[test]
fn a_yaml_mistake_points_at_the_yaml_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nf = dir.path().join("c.nf");
    std::fs::write(&nf, CONFIGURED).expect("write nf");
    let yaml = dir.path().join("bad.yaml");
    std::fs::write(&yaml, "guard: false\ntables:\n  acl:\n    - match: { ipv4.src: 198.18.0.0/40 }\n      action: deny\n").expect("write yaml");
    let out = dir.path().join("c.o");
    let o = nflc(&["build", nf.to_str().expect("path"), "--config", yaml.to_str().expect("path"), "-o", out.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("nfl::E0718"), "{err}");
    assert!(err.contains("bad.yaml:4:"), "the label points into the YAML file:\n{err}");
    assert!(err.contains("198.18.0.0/40"), "the offending text is quoted:\n{err}");
    assert!(err.contains("help:"), "{err}");
    assert!(!out.exists(), "no object after a failed build");
}

/// `--explain` says what the config folded and how each table is built;
/// `FILE.yaml` is picked up (and announced) without `--config`.
#[test]
fn explain_reports_specialization() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nf = dir.path().join("c.nf");
    std::fs::write(&nf, CONFIGURED).expect("write nf");
    std::fs::write(dir.path().join("c.yaml"), "guard: false\n").expect("write yaml");
    let out = dir.path().join("c.o");
    let o = nflc(&["build", nf.to_str().expect("path"), "--explain", "-o", out.to_str().expect("path")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("using config"), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("config.guard = 0 (from the config file); folded into the code"), "{text}");
    assert!(text.contains("config.trusted = {1 items} (default); folded into the code"), "{text}");
    assert!(text.contains("table acl [ipv4.src: ternary]: tuple-space classifier"), "{text}");
}

/// A feature turned off by config disappears from the bytecode: with the
/// guard off, the table's lookup is gone from the program.
#[test]
fn config_off_removes_the_feature_from_the_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nf = dir.path().join("c.nf");
    std::fs::write(&nf, CONFIGURED).expect("write nf");
    let asm = |guard: &str| {
        let yaml = dir.path().join(format!("{guard}.yaml"));
        std::fs::write(&yaml, format!("guard: {guard}\n")).expect("write yaml");
        let out = dir.path().join(format!("{guard}.o"));
        let o = nflc(&["build", nf.to_str().expect("p"), "--config", yaml.to_str().expect("p"), "--emit", "asm", "-o", out.to_str().expect("p")]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let (on, off) = (asm("true"), asm("false"));
    assert!(on.contains("bpf_map_lookup_elem"), "{on}");
    assert!(!off.contains("bpf_map_lookup_elem"), "{off}");
    assert!(off.lines().count() < on.lines().count());
}
