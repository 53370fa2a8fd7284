//! The `.test` parser and report formatter; no kernel needed.

use nfl_runtime::load::ProgramKind;
use nfl_runtime::testfile::{
    CaseOutcome, Expect, Failure, Verdict, format_outcomes, hex_diff, parse, parse_source,
    verdict_from_retval, verdict_retval,
};
use nfl_syntax::SourceMap;
use nfl_syntax::ast::FileId;
use nfl_syntax::diag::render_all;

fn testfile(name: &str) -> String {
    let path = format!("{}/tests/testfiles/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn parses_the_example_file() {
    let (cases, diags) = parse(&testfile("drop_ipv4.test"), FileId(0));
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(cases.len(), 3);
    assert_eq!(cases[0].name, "udp over ipv4 is dropped");
    assert_eq!(cases[0].input.len(), 42);
    assert_eq!(&cases[0].input[12..14], &[0x08, 0x00]);
    // `3039 0035` are grouped digits: two bytes each.
    assert_eq!(&cases[0].input[34..38], &[0x30, 0x39, 0x00, 0x35]);
    assert_eq!(cases[0].expect, Expect::Verdict(Verdict::Drop));
    assert_eq!(cases[0].output, None);
    assert_eq!(cases[1].expect, Expect::Verdict(Verdict::Pass));
    assert_eq!(cases[1].output.as_deref(), Some(cases[1].input.as_slice()));
    assert_eq!(cases[2].input.len(), 14);
    assert_eq!(cases[2].expect, Expect::Retval(1));
}

#[test]
fn hash_inside_case_name_is_not_a_comment() {
    let text = "case \"a # b \\\" c\" # real comment\nin: 00 00 00 00 00 00 00 00 00 00 00 00 08 00\nexpect: tx\n";
    let (cases, diags) = parse(text, FileId(0));
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(cases[0].name, "a # b \" c");
    assert_eq!(cases[0].expect, Expect::Verdict(Verdict::Tx));
}

#[test]
fn retval_accepts_hex_and_blocks_end_at_keywords() {
    let text = "case \"x\"\nout:\n 01 02\n 03\nexpect: retval 0x10\nin: 00 00 00 00 00 00\n 00 00 00 00 00 00 08 00\n";
    let (cases, diags) = parse(text, FileId(0));
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(cases[0].expect, Expect::Retval(16));
    assert_eq!(cases[0].output, Some(vec![1, 2, 3]));
    assert_eq!(cases[0].input.len(), 14);
}

#[test]
fn every_error_is_reported_with_its_code() {
    let (cases, diags) = parse(&testfile("errors.test"), FileId(0));
    let codes: Vec<&str> = diags.iter().map(|d| d.code).collect();
    // No case in the file is valid.
    assert!(cases.is_empty(), "{cases:#?}");
    for code in [
        "nfl::E0601",
        "nfl::E0602",
        "nfl::E0603",
        "nfl::E0604",
        "nfl::E0605",
        "nfl::E0606",
        "nfl::E0607",
        "nfl::E0608",
    ] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    assert!(diags.iter().all(|d| d.is_error()));
}

#[test]
fn empty_file_is_an_error() {
    let (cases, diags) = parse("# only a comment\n\n", FileId(0));
    assert!(cases.is_empty());
    assert_eq!(
        diags.iter().map(|d| d.code).collect::<Vec<_>>(),
        ["nfl::E0609"]
    );
}

#[test]
fn parser_never_panics_on_odd_input() {
    let inputs = [
        "",
        "case",
        "case \"",
        "case \"\"",
        "in:",
        "out:",
        "expect:",
        "expect: retval",
        "case \"é\"\nin: é\nexpect: ü",
        "\u{0}\u{1}case\"x\"in:",
        "case \"x\"\nin:\n\n\n",
        "case \"x\"\r\nin: 00\r\nexpect: pass\r\n",
        "####",
        "\"\"\"",
        "case \"x\" extra words\nexpect: pass",
        "case\"y\"\nin:00\nexpect:drop",
    ];
    for text in inputs {
        let (_cases, diags) = parse(text, FileId(0));
        assert!(
            !diags.is_empty(),
            "expected at least one diagnostic for {text:?}"
        );
        for d in &diags {
            let span = d.primary_span().unwrap();
            assert!(
                span.start <= span.end && span.end as usize <= text.len(),
                "{text:?}: {d:?}"
            );
        }
    }
}

#[test]
fn crlf_lines_parse() {
    let text = "case \"x\"\r\nin: 00 00 00 00 00 00 00 00 00 00 00 00 08 00\r\nexpect: pass\r\n";
    let (cases, diags) = parse(text, FileId(0));
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(cases.len(), 1);
}

#[test]
fn rendered_errors_snapshot() {
    let mut sources = SourceMap::new();
    let (_, _, diags) = parse_source(
        &mut sources,
        "tests/testfiles/errors.test",
        &testfile("errors.test"),
    );
    insta::assert_snapshot!(render_all(&diags, &sources, false));
}

#[test]
fn verdict_mapping_round_trips() {
    for hook in [ProgramKind::Xdp, ProgramKind::Tc] {
        for v in Verdict::ALL {
            let r = verdict_retval(hook, v);
            let back = verdict_from_retval(hook, r).unwrap();
            assert_eq!(verdict_retval(hook, back), r, "{hook} {v}");
        }
    }
    assert_eq!(
        Verdict::ALL.map(|v| verdict_retval(ProgramKind::Xdp, v)),
        [2, 1, 3, 0, 4]
    );
    assert_eq!(
        Verdict::ALL.map(|v| verdict_retval(ProgramKind::Tc, v)),
        [0, 2, 7, 2, 7]
    );
    assert_eq!(verdict_from_retval(ProgramKind::Xdp, 5), None);
    assert_eq!(verdict_from_retval(ProgramKind::Tc, u32::MAX), None);
}

#[test]
fn report_format() {
    let outcomes = vec![
        CaseOutcome {
            name: "ok".into(),
            retval: Some(1),
            failures: vec![],
        },
        CaseOutcome {
            name: "wrong verdict".into(),
            retval: Some(2),
            failures: vec![Failure::Verdict {
                expected: "drop".into(),
                got: "pass".into(),
            }],
        },
        CaseOutcome {
            name: "wrong bytes".into(),
            retval: Some(2),
            failures: vec![Failure::Bytes {
                expected: vec![0u8; 20],
                got: [vec![0u8; 17], vec![9]].concat(),
            }],
        },
    ];
    insta::assert_snapshot!(format_outcomes(&outcomes));
}

#[test]
fn hex_diff_marks_only_differing_bytes() {
    let a: Vec<u8> = (0..40).collect();
    let mut b = a.clone();
    b[3] = 0xff;
    b.truncate(38);
    let d = hex_diff(&a, &b);
    // Row 0x10 agrees and is left out.
    assert!(!d.contains("0010"), "{d}");
    assert!(d.contains("0000  expected 00 01 02 03"), "{d}");
    assert!(d.contains("got      00 01 02 ff"), "{d}");
    assert!(d.contains("0020  expected 20 21 22 23 24 25 26 27"), "{d}");
    assert!(d.contains("20 21 22 23 24 25 -- --"), "{d}");
    assert!(hex_diff(&a, &a).is_empty());
}
