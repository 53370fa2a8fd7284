//! The userspace engine (nfl-runtime's `engine`): every example's packet
//! tests pass in it, under every target profile, with no kernel at all.

mod common;

use common::{build_file_for, display_name, nf_files};
use nfl_compiler::target::Target;
use nfl_runtime::engine::{Engine, Options};
use nfl_runtime::testfile;

/// Runs every example's cases; returns (examples built, cases run).
fn example_tests_pass_in_the_engine(target: Target) -> (usize, usize) {
    let mut failed = Vec::new();
    let (mut built, mut ran) = (0, 0);
    for path in nf_files("examples") {
        let test_path = path.with_extension("test");
        let text = std::fs::read_to_string(&test_path).expect("read .test");
        let build = match build_file_for(&path, target) {
            Ok(b) => b,
            // An example the profile cannot express (checked elsewhere).
            Err(_) => continue,
        };
        built += 1;
        let mut sources = build.checked.sources.clone();
        let (_, cases, diags) = testfile::parse_source(&mut sources, &display_name(&test_path), &text);
        assert!(diags.is_empty());
        let mut engine = match Engine::new(&build.object, Options::default()) {
            Ok(e) => e,
            Err(e) => {
                failed.push(format!("{}: {e}", display_name(&path)));
                continue;
            }
        };
        let hook = engine.hook();
        let outcomes = testfile::run_cases_with(hook, &cases, |input| {
            engine.run(input).map(|r| (r.retval, r.data_out)).map_err(|f| f.to_string())
        });
        ran += outcomes.len();
        if outcomes.iter().any(|o| !o.passed()) {
            failed.push(format!("{}:\n{}", display_name(&path), testfile::format_outcomes(&outcomes)));
        }
    }
    assert!(failed.is_empty(), "{target}:\n{}", failed.join("\n"));
    eprintln!("{target}: {built} examples, {ran} cases passed in the engine");
    (built, ran)
}

#[test]
fn example_tests_pass_in_the_engine_helpers() {
    let (built, ran) = example_tests_pass_in_the_engine(Target::Helpers);
    assert_eq!(built, nf_files("examples").len(), "every example builds for helpers");
    assert!(ran > 50, "{ran} cases");
}

#[test]
fn example_tests_pass_in_the_engine_stock() {
    let (built, _) = example_tests_pass_in_the_engine(Target::Stock);
    assert_eq!(built, nf_files("examples").len(), "every example builds for stock");
}

#[test]
fn example_tests_pass_in_the_engine_enetstl() {
    // kfunc-lib's module cannot load here: the engine is where this
    // profile runs at all.
    let (built, ran) = example_tests_pass_in_the_engine(Target::Enetstl);
    assert_eq!(built, nf_files("examples").len(), "every example builds for enetstl");
    assert!(ran > 50, "{ran} cases");
}
