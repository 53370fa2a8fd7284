//! Checker tests through the real parser: the standard library, a HIR
//! snapshot, one test per diagnostic family, and the `tests/ok` and
//! `tests/err` corpora.

use std::path::{Path, PathBuf};

use nfl_compiler::check::check_all;
use nfl_compiler::frontend::{MapLoader, ModuleLoader, NoModules, load_program};
use nfl_compiler::hir::{self, Hir};

use nfl_syntax::{Diagnostic, SourceMap};

/// Load and check `text`; syntax errors stop before the checker.
fn run_with(text: &str, loader: &mut dyn ModuleLoader) -> (SourceMap, Option<Hir>, Vec<Diagnostic>) {
    let (sources, modules, diags) = load_program("test.nf", text, loader);
    if diags.iter().any(Diagnostic::is_error) {
        return (sources, None, diags);
    }
    let (hir, mut more) = check_all(&sources, &modules);
    let mut all = diags;
    all.append(&mut more);
    (sources, hir, all)
}

fn run(text: &str) -> (SourceMap, Option<Hir>, Vec<Diagnostic>) {
    run_with(text, &mut NoModules)
}

fn codes(diags: &[Diagnostic]) -> Vec<&'static str> {
    diags.iter().map(|d| d.code.trim_start_matches("nfl::")).collect()
}

#[track_caller]
fn ok(text: &str) -> Hir {
    let (sources, hir, diags) = run(text);
    match hir {
        Some(h) if diags.is_empty() => h,
        _ => panic!("expected no diagnostics, got:\n{}", nfl_syntax::diag::render_all(&diags, &sources, false)),
    }
}

/// Assert the program fails with exactly these codes (in any order).
#[track_caller]
fn err(text: &str, expected: &[&str]) -> Vec<Diagnostic> {
    let (sources, hir, diags) = run(text);
    let mut got = codes(&diags);
    got.sort_unstable();
    let mut want = expected.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "diagnostics:\n{}", nfl_syntax::diag::render_all(&diags, &sources, false));
    assert!(hir.is_none(), "an erroneous program must not produce a Hir");
    for d in &diags {
        assert!(!d.labels.is_empty(), "{} has no label", d.code);
        assert!(d.help.is_some(), "{} has no help", d.code);
    }
    diags
}

#[test]
fn stdlib_checks_cleanly() {
    let hir = ok("import std.net\ncontrol c(xdp) { pass }");
    let parser = hir.parser.as_ref().expect("std_parse is the only parser");
    assert_eq!(parser.name, "std_parse");
    let byte_len = |name: &str| hir.headers.iter().find(|h| h.name == name).map(|h| h.byte_len);
    assert_eq!(byte_len("ethernet"), Some(14));
    assert_eq!(byte_len("vlan"), Some(4));
    assert_eq!(byte_len("arp"), Some(28));
    assert_eq!(byte_len("ipv4"), Some(20));
    assert_eq!(byte_len("ipv6"), Some(40));
    assert_eq!(byte_len("tcp"), Some(20));
    assert_eq!(byte_len("udp"), Some(8));
    assert_eq!(byte_len("icmp"), Some(4));
    let ipv4 = hir.headers.iter().find(|h| h.name == "ipv4").expect("ipv4");
    let off = |f: &str| ipv4.fields.iter().find(|x| x.name == f).map(|x| (x.bit_offset, x.width));
    assert_eq!(off("ihl"), Some((4, 4)));
    assert_eq!(off("frag_offset"), Some((51, 13)));
    assert_eq!(off("dst"), Some((128, 32)));
    assert_eq!(hir.headers.iter().find(|h| h.name == "vlan").and_then(|h| h.stack), Some(2));
}

#[test]
fn hir_snapshot_small_program() {
    let hir = ok(r#"
header eth { dst: u48, src: u48, ethertype: u16 }
header ip4 { version: u4, ihl: u4, tos: u8, len: u16, id: u16, flags: u3, frag: u13, ttl: u8, proto: u8, csum: u16, src: u32, dst: u32 }
const LIMIT = 64
meta { hits: u32 }
parser p {
    state start {
        extract eth
        select eth.ethertype { 0x0800: ip, _: accept }
    }
    state ip {
        extract ip4
        select ip4.src { 10.0.0.0/8 | 0x0800 &&& 0xffff: accept, 0..10: reject, _: accept }
    }
}
action count(n: u32) { meta.hits += n }
control c(xdp) {
    if !ip4.valid { pass }
    count(1)
    if ip4.ttl < LIMIT { ip4.ttl -= 1 } else if ip4.proto in {6, 17} { drop }
    let x = ip4.len as u32 + 4
    if x > pkt.len { drop }
}
"#);
    insta::assert_debug_snapshot!(hir);
}

fn corpus(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("tests").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "nf"))
        .collect();
    files.sort();
    files
}

/// Every `tests/ok/*.nf` loads and checks without a single diagnostic.
#[test]
fn ok_corpus_checks_cleanly() {
    let files = corpus("ok");
    assert!(files.len() >= 15, "expected at least 15 ok programs, found {}", files.len());
    let mut failures = String::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let (sources, hir, diags) = run(&text);
        if hir.is_none() || !diags.is_empty() {
            failures.push_str(&format!("== {}\n{}\n", path.display(), nfl_syntax::diag::render_all(&diags, &sources, false)));
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

/// Every `tests/err/*.nf` starts with `// expect: E0xxx ...` and produces
/// exactly those diagnostic codes (as a multiset), each with a help line.
#[test]
fn err_corpus_reports_expected_codes() {
    let files = corpus("err");
    assert!(files.len() >= 18, "expected at least 18 err programs, found {}", files.len());
    let mut failures = String::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let Some(expect_line) = text.lines().find_map(|l| l.strip_prefix("// expect:")) else {
            failures.push_str(&format!("== {}: no `// expect:` line\n", path.display()));
            continue;
        };
        let mut want: Vec<&str> = expect_line.split_whitespace().collect();
        want.sort_unstable();
        let (sources, hir, diags) = run(&text);
        let mut got = codes(&diags);
        got.sort_unstable();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_uppercase();
        let named = want.iter().any(|c| stem.starts_with(&c.to_uppercase()));
        if got != want || hir.is_some() || !named || diags.iter().any(|d| d.help.is_none() || d.labels.is_empty()) {
            failures.push_str(&format!(
                "== {}: want {want:?}, got {got:?}\n{}\n",
                path.display(),
                nfl_syntax::diag::render_all(&diags, &sources, false)
            ));
        }
    }
    assert!(failures.is_empty(), "{failures}");
}
