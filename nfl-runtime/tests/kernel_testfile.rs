//! Running `.test` files against clang-built programs in the kernel.

mod common;

use nfl_runtime::testfile::{Failure, format_outcomes, parse_source, run_cases};
use nfl_runtime::require_kernel;
use nfl_syntax::SourceMap;

fn cases(name: &str) -> Vec<nfl_runtime::testfile::Case> {
    let path = format!("{}/tests/testfiles/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut sources = SourceMap::new();
    let (_, cases, diags) = parse_source(&mut sources, name, &text);
    assert!(
        diags.is_empty(),
        "{}",
        nfl_syntax::diag::render_all(&diags, &sources, false)
    );
    cases
}

#[test]
fn drop_ipv4_test_file_passes() {
    if !require_kernel("drop_ipv4_test_file_passes") {
        return;
    }
    let prog = common::load_c("drop_ipv4", common::DROP_IPV4_XDP);
    let outcomes = run_cases(&prog, &cases("drop_ipv4.test"));
    let report = format_outcomes(&outcomes);
    assert!(outcomes.iter().all(|o| o.passed()), "{report}");
    assert_eq!(
        outcomes.iter().map(|o| o.retval).collect::<Vec<_>>(),
        [Some(1), Some(2), Some(1)]
    );
    assert!(report.ends_with("3 passed, 0 failed\n"), "{report}");
}

#[test]
fn failing_cases_are_reported() {
    if !require_kernel("failing_cases_are_reported") {
        return;
    }
    let prog = common::load_c("drop_ipv4", common::DROP_IPV4_XDP);
    let outcomes = run_cases(&prog, &cases("failing.test"));
    assert!(outcomes.iter().all(|o| !o.passed()), "{outcomes:#?}");
    assert_eq!(
        outcomes[0].failures,
        [Failure::Verdict {
            expected: "pass".into(),
            got: "drop".into()
        }]
    );
    assert!(
        matches!(&outcomes[1].failures[..], [Failure::Bytes { expected, got }] if expected.len() == 17 && got.len() == 16)
    );
    assert_eq!(
        outcomes[2].failures,
        [Failure::Verdict {
            expected: "retval 7".into(),
            got: "retval 1".into()
        }]
    );
    insta::assert_snapshot!(format_outcomes(&outcomes));
}

#[test]
fn tc_test_file_passes() {
    if !require_kernel("tc_test_file_passes") {
        return;
    }
    let prog = common::load_c("tc", common::TC_PROG);
    let outcomes = run_cases(&prog, &cases("tc_filter.test"));
    let report = format_outcomes(&outcomes);
    assert_eq!(outcomes.len(), 4);
    assert!(outcomes[..3].iter().all(|o| o.passed()), "{report}");
    // The kernel refuses a 14-byte IPv4 frame for TC; that is an error, not a verdict.
    assert_eq!(outcomes[3].retval, None);
    assert!(
        report.contains("FAIL short ipv4 frame is refused by the kernel: test run failed: packet is 14 bytes, but the kernel needs at least 34"),
        "{report}"
    );
    assert!(report.ends_with("3 passed, 1 failed\n"), "{report}");
}

#[test]
fn same_file_fails_against_the_wrong_program() {
    if !require_kernel("same_file_fails_against_the_wrong_program") {
        return;
    }
    // The swap-MAC program returns XDP_TX for everything: no case of drop_ipv4.test holds.
    let prog = common::load_c("swap", common::SWAP_MAC_XDP);
    let outcomes = run_cases(&prog, &cases("drop_ipv4.test"));
    assert_eq!(outcomes.iter().filter(|o| o.passed()).count(), 0);
    let report = format_outcomes(&outcomes);
    assert!(
        report.contains("FAIL udp over ipv4 is dropped: expected drop, got tx"),
        "{report}"
    );
    assert!(report.ends_with("0 passed, 3 failed\n"), "{report}");
}
