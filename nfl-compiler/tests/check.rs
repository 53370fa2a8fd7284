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
        let yaml = std::fs::read_to_string(path.with_extension("yaml")).ok();
        let (sources, hir, diags) = match &yaml {
            // A config mistake needs the config: check through the driver.
            Some(y) => match nfl_compiler::driver::check_with("test.nf", &text, &mut NoModules, Some(("test.yaml", y))) {
                Ok(c) => (c.sources, Some(c.hir), c.warnings),
                Err(f) => (f.sources, None, f.diagnostics),
            },
            None => run(&text),
        };
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

const STD: &str = "import std.net\n";

#[test]
fn validity_follows_guards_and_early_exits() {
    // Early exit: `if !H.valid { verdict }` makes H valid afterwards.
    ok(&format!("{STD}control c(xdp) {{ if !ipv4.valid {{ pass }} ipv4.ttl = 1 }}"));
    // `&&` short-circuit, and the `else` of a negated test.
    ok(&format!("{STD}control c(xdp) {{ if ipv4.valid && ipv4.ttl > 1 {{ drop }} }}"));
    ok(&format!("{STD}control c(xdp) {{ if !ipv4.valid {{ pass }} else if ipv4.ttl == 0 {{ drop }} }}"));
    // `||`: the right side runs only when the left is false.
    ok(&format!("{STD}control c(xdp) {{ if !tcp.valid || tcp.dst_port == 22 {{ pass }} tcp.window = 0 }}"));
    // Both branches make it valid (one by diverging).
    ok(&format!("{STD}control c(xdp) {{ if ipv4.valid {{ ipv4.ttl = 9 }} else {{ drop }} ipv4.ttl += 1 }}"));
    // Conjunctions give several facts at once; stack elements are separate.
    ok(&format!("{STD}control c(xdp) {{ if vlan[0].valid && vlan[1].valid && udp.valid {{ vlan[1].vid = vlan[0].vid; udp.checksum = 0 }} }}"));
    // A guard inside a block does not leak out of it.
    err(&format!("{STD}control c(xdp) {{ if ipv4.valid {{ ipv4.ttl = 1 }} ipv4.ttl = 2 }}"), &["E0502"]);
    // `||` does not make either side valid in the `then` branch.
    err(&format!("{STD}control c(xdp) {{ if ipv4.valid || ipv6.valid {{ ipv4.ttl = 1 }} }}"), &["E0502"]);
    // One element of a stack says nothing about another.
    err(&format!("{STD}control c(xdp) {{ if vlan[0].valid {{ vlan[1].vid = 1 }} }}"), &["E0502"]);
    // What the parser extracts before a header comes with it: every path to
    // `ipv4` and to `udp` extracts `ethernet` first ...
    ok(&format!("{STD}control c(xdp) {{ if ipv4.valid {{ ethernet.src = 0 }} }}"));
    ok(&format!("{STD}control c(xdp) {{ if !udp.valid {{ pass }} ethernet.dst = 1 }}"));
    // ... but TCP may follow IPv6, so `tcp.valid` says nothing of `ipv4`.
    err(&format!("{STD}control c(xdp) {{ if tcp.valid {{ ipv4.ttl = 1 }} }}"), &["E0502"]);
    // Actions are checked at each call site, with what the caller knows.
    ok(&format!("{STD}action a() {{ ipv4.ttl = 1 }}\ncontrol c(xdp) {{ if ipv4.valid {{ a() }} }}"));
    err(&format!("{STD}action a() {{ ipv4.ttl = 1 }}\ncontrol c(xdp) {{ if ipv6.valid {{ a() }} }}"), &["E0502"]);
    // ... through nested calls, and a guard inside the action counts.
    err(&format!("{STD}action a() {{ ipv4.ttl = 1 }}\naction b() {{ a() }}\ncontrol c(xdp) {{ b() }}"), &["E0502"]);
    ok(&format!("{STD}action a() {{ ipv4.ttl = 1 }}\naction b() {{ if ipv4.valid {{ a() }} }}\ncontrol c(xdp) {{ b() }}"));
}

#[test]
fn parser_reads_need_definite_extracts() {
    // Read after an extract on every path into the state: fine.
    ok("header a { x: u8 }\nheader b { y: u8 }\nparser p {\n state start { extract a; select a.x { 1: one, _: two } }\n state one { extract b; goto last }\n state two { extract b; goto last }\n state last { select (a.x, b.y) { (1, 2): accept, _: reject } }\n}\ncontrol c(xdp) { pass }");
    // The stack loop: `.last` right after extracting it.
    ok("header t[3] { more: u8 }\nparser p {\n state start { extract t; select t.last.more { 1: start, _: accept } }\n}\ncontrol c(xdp) { if t[2].valid { drop } }");
    // A fixed element read needs that many extracts on every path.
    err("header t[3] { more: u8 }\nparser p {\n state start { extract t; select t[1].more { _: accept } }\n}\ncontrol c(xdp) { pass }", &["E0408"]);
    // A skip amount reading a header not yet extracted.
    err("header a { n: u8 }\nparser p {\n state start { skip a.n; extract a; accept }\n}\ncontrol c(xdp) { pass }", &["E0408"]);
}

#[test]
fn parser_loops_need_a_stack() {
    // A two-state loop without a stack: one diagnostic naming both states.
    let d = err(
        "header a { n: u8 }\nheader s[2] { n: u8 }\nparser p {\n state start { extract a; goto x }\n state x { goto y }\n state y { select a.n { 0: x, _: accept } }\n}\ncontrol c(xdp) { pass }",
        &["E0405"],
    );
    assert_eq!(d.first().map(|d| d.labels.len()), Some(2));
    // The same loop through a stack-extracting state is bounded.
    ok("header a { n: u8 }\nheader s[2] { n: u8 }\nparser p {\n state start { extract a; goto x }\n state x { extract s; goto y }\n state y { select s.last.n { 0: x, _: accept } }\n}\ncontrol c(xdp) { pass }");
}

fn only_select(hir: &Hir) -> Vec<hir::SelectCase> {
    let parser = hir.parser.as_ref().expect("parser");
    match &parser.states.first().expect("start").transition {
        hir::Transition::Select { cases, .. } => cases.clone(),
        other => panic!("expected a select, got {other:?}"),
    }
}

#[test]
fn patterns_are_normalised() {
    let hir = ok("header h { k: u16, a: u32 }\nparser p {\n state start {\n  extract h\n  select h.k {\n   0..0: reject\n   1024..65536: accept\n   0x0800 &&& 0xff00: accept\n   0xff_00 | 7..=9: reject\n   _: accept\n  }\n }\n}\ncontrol c(xdp) { if h.valid && h.a in {198.18.0.77/15, 10.0.0.0/0} { drop } }");
    let cases = only_select(&hir);
    let pats: Vec<Vec<Vec<hir::Pattern>>> = cases.iter().map(|c| c.alternatives.clone()).collect();
    use hir::Pattern::*;
    assert_eq!(
        pats,
        vec![
            vec![vec![Range { lo: 1, hi: 0 }]],
            vec![vec![Range { lo: 1024, hi: 65535 }]],
            vec![vec![Mask { value: 0x0800, mask: 0xff00 }]],
            vec![vec![Value(0xff00)], vec![Range { lo: 7, hi: 9 }]],
            vec![vec![Any]],
        ]
    );
    let hir::Stmt::If { cond, .. } = hir.control.stmts.first().expect("if") else { panic!("expected an if") };
    let hir::ExprKind::Binary { rhs, .. } = &cond.kind else { panic!("expected &&") };
    let hir::ExprKind::In { pattern, .. } = &rhs.kind else { panic!("expected in") };
    // The prefix drops the host bits; `/0` matches everything.
    assert_eq!(
        pattern,
        &Set(vec![Mask { value: 0xc612_0000, mask: 0xfffe_0000 }, Mask { value: 0, mask: 0 }])
    );
}

#[test]
fn literals_take_the_width_of_their_context() {
    let hir = ok(&format!(
        "{STD}const K = 7\nconst W: u16 = K * 2\nmeta {{ m: u16 }}\ncontrol c(xdp) {{\n let a = 5\n let b: u8 = K\n meta.m = W + K\n if ipv4.valid && ipv4.ttl + 1 > K {{ drop }}\n}}"
    ));
    let ty_of = |name: &str| hir.locals.iter().find(|l| l.name == name).map(|l| l.ty);
    assert_eq!(ty_of("a"), Some(hir::Ty::UInt(64)), "an all-literal expression defaults to u64");
    assert_eq!(ty_of("b"), Some(hir::Ty::UInt(8)));
    let hir::Stmt::Assign { value, .. } = hir.control.stmts.get(2).expect("assign") else { panic!("expected assign") };
    let hir::ExprKind::Binary { lhs, rhs, .. } = &value.kind else { panic!("expected +") };
    assert_eq!((&lhs.kind, lhs.ty), (&hir::ExprKind::Const(14), hir::Ty::UInt(16)));
    assert_eq!((&rhs.kind, rhs.ty), (&hir::ExprKind::Const(7), hir::Ty::UInt(16)));
    // A typed constant does not adapt.
    err(&format!("{STD}const P: u16 = 80\ncontrol c(xdp) {{ if ipv4.valid && ipv4.ttl == P {{ drop }} }}"), &["E0304"]);
    // An untyped constant must still fit where it is used.
    err(&format!("{STD}const BIG = 4096\ncontrol c(xdp) {{ if ipv4.valid && ipv4.ttl == BIG {{ drop }} }}"), &["E0305"]);
}

#[test]
fn compound_assignment_is_desugared() {
    let hir = ok("meta { n: u8 }\ncontrol c(xdp) { meta.n ^= 0x0f }");
    let Some(hir::Stmt::Assign { place, value, .. }) = hir.control.stmts.first() else { panic!("expected assign") };
    assert_eq!(place, &hir::Place::Meta(hir::MetaId(0)));
    let hir::ExprKind::Binary { op, lhs, rhs } = &value.kind else { panic!("expected a binary") };
    assert_eq!(*op, hir::BinOp::BitXor);
    assert_eq!(lhs.kind, hir::ExprKind::Meta(hir::MetaId(0)));
    assert_eq!((&rhs.kind, rhs.ty), (&hir::ExprKind::Const(15), hir::Ty::UInt(8)));
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    err(
        "header h { a: u3 }\nconst X: u8 = 256\nparser p { state start { extract h; goto nowhere } }\ncontrol c(xdp) { if 1 { drop } meta.x = 1; pass; drop }",
        &["E0302", "E0305", "E0402", "E0309", "E0204", "E0501"],
    );
}

#[test]
fn parser_choice() {
    // No parser at all is allowed: the control sees only `pkt` and `meta`.
    let hir = ok("control c(tc) { if pkt.len > 100 { drop } }");
    assert!(hir.parser.is_none());
    assert_eq!(hir.hook, nfl_syntax::ast::Hook::Tc);
    err("control c(xdp, std_parse) { pass }", &["E0212"]);
    err("const p = 1\ncontrol c(xdp, p) { pass }", &["E0212"]);
    let hir = ok(&format!("{STD}parser mine {{ state start {{ extract ethernet; accept }} }}\ncontrol c(xdp, mine) {{ pass }}"));
    assert_eq!(hir.parser.map(|p| p.name), Some("mine".to_string()));
}

#[test]
fn imports_load_each_module_once_and_may_cycle() {
    let mut loader = MapLoader::default();
    loader.0.insert("lib.a".into(), "import lib.b\nimport std.net\nconst A: u8 = 1".into());
    loader.0.insert("lib.b".into(), "import lib.a\nconst B: u8 = A + 1".into());
    let (sources, hir, diags) = run_with("import lib.a\nimport lib.b\nimport std.net\ncontrol c(xdp) { if ipv4.valid && ipv4.ttl == B { drop } }", &mut loader);
    assert!(diags.is_empty(), "{}", nfl_syntax::diag::render_all(&diags, &sources, false));
    assert!(hir.is_some());
    let names: Vec<String> = sources.files().map(|(_, f)| f.name.clone()).collect();
    assert_eq!(names, vec!["test.nf", "lib/a.nf", "lib/b.nf", "std/net.nf"]);
    // A syntax error in an imported module is reported against that module.
    let mut loader = MapLoader::default();
    loader.0.insert("bad".into(), "header {".into());
    let (sources, _, diags) = run_with("import bad\ncontrol c(xdp) { pass }", &mut loader);
    let file = diags.first().and_then(|d| d.primary_span()).map(|s| s.file);
    assert_eq!(file.and_then(|f| sources.get(f)).map(|f| f.name.as_str()), Some("bad.nf"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    /// Any damage to a valid program gives diagnostics, never a panic.
    #[test]
    fn damaged_programs_never_panic(file in 0usize..64, start in 0usize..2000, len in 0usize..40, insert in "[ -~\n]{0,8}") {
        let files = corpus("ok");
        let path = &files[file % files.len()];
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut start = start.min(text.len());
        while !text.is_char_boundary(start) { start -= 1; }
        let mut end = (start + len).min(text.len());
        while !text.is_char_boundary(end) { end -= 1; }
        let damaged = format!("{}{}{}", &text[..start], insert, &text[end..]);
        let (sources, modules, _) = load_program("fuzz.nf", &damaged, &mut NoModules);
        let _ = check_all(&sources, &modules);
    }
}

/// A sketch argument value: small and huge integers, fractions down to the
/// 18 digits a decimal literal may have.
fn sketch_value() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        (0u64..40).prop_map(|v| v.to_string()),
        any::<u64>().prop_map(|v| v.to_string()),
        (0u32..19, 0u64..1_000_000).prop_map(|(zeros, d)| format!("0.{}{d}", "0".repeat(zeros as usize))),
        Just("1.0".to_string()),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
    /// Any sizing of any sketch, through the whole compiler (check, build,
    /// schema, object): a diagnostic or an object, never a panic.
    #[test]
    fn any_sketch_sizing_compiles_or_is_refused(
        kind in proptest::sample::select(vec!["count_min", "count_sketch", "nitro", "topk", "bloom", "hyperloglog"]),
        args in proptest::collection::vec((proptest::sample::select(vec!["eps", "delta", "rows", "cols", "k", "candidates", "p", "items", "fp", "bits", "hashes", "size"]), sketch_value()), 0..4),
        per in proptest::bool::ANY,
    ) {
        let args: Vec<String> = args.iter().map(|(n, v)| format!("{n} = {v}")).collect();
        let per = if per { " per ipv4.dst" } else { "" };
        let text = format!(
            "import std.net\nsketch s: {kind}({}) keyed ipv4.src{per}\ncontrol c(xdp) {{ if ipv4.valid {{ s.add() }} pass }}\n",
            args.join(", ")
        );
        let _ = nfl_compiler::driver::build("sizing.nf", &text, &mut NoModules);
    }
}

/// A queue argument value: what a sketch takes, and durations.
fn queue_value() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        sketch_value(),
        ((0u64..100), proptest::sample::select(vec!["ns", "us", "ms", "s"])).prop_map(|(n, u)| format!("{n}{u}")),
        (any::<u64>(), proptest::sample::select(vec!["ns", "us", "ms", "s"])).prop_map(|(n, u)| format!("{n}{u}")),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    /// Any sizing of any queue, under every target, through the whole
    /// compiler: a diagnostic or an object, never a panic.
    #[test]
    fn any_queue_sizing_compiles_or_is_refused(
        kind in proptest::sample::select(vec!["fifo", "pqueue", "wheel"]),
        args in proptest::collection::vec((proptest::sample::select(vec!["size", "slots", "tick"]), queue_value()), 0..4),
        elem in proptest::sample::select(vec!["u8", "u16", "u32", "u64"]),
        target in proptest::sample::select(nfl_compiler::target::Target::ALL.to_vec()),
    ) {
        let args: Vec<String> = args.iter().map(|(n, v)| format!("{n} = {v}")).collect();
        let push = match kind {
            "fifo" => "q.push(1)",
            _ => "q.push(5, 1)",
        };
        let text = format!(
            "import std.net\nqueue q: {kind}({}) of {elem}\ncontrol c(xdp) {{ {push}\n pass }}\n",
            args.join(", ")
        );
        let _ = nfl_compiler::driver::build_for("queue.nf", &text, &mut NoModules, None, target);
    }
}
