//! The userspace engine (nfl-runtime's `engine`): every example's packet
//! tests pass in it, under every target profile, with no kernel at all.

mod common;

use common::{build_file_for, display_name, nf_files};
use nfl_compiler::target::Target;
use nfl_runtime::engine::{Engine, Mode, Options};
use nfl_runtime::testfile;

/// Runs every example's cases; returns (examples built, cases run).
fn example_tests_pass_in_the_engine(target: Target) -> (usize, usize) {
    example_tests_pass_in_mode(target, Mode::Interp)
}

fn example_tests_pass_in_mode(target: Target, mode: Mode) -> (usize, usize) {
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
        let mut engine = match Engine::new(&build.object, Options { mode, ..Options::default() }) {
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
    assert!(failed.is_empty(), "{target} {mode:?}:\n{}", failed.join("\n"));
    eprintln!("{target} {mode:?}: {built} examples, {ran} cases passed in the engine");
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

/// The same cases with the engine's code compiled by the Cranelift JIT.
#[test]
fn example_tests_pass_in_the_jit() {
    for target in [Target::Helpers, Target::Stock, Target::Enetstl] {
        let (built, ran) = example_tests_pass_in_mode(target, Mode::Jit);
        assert_eq!(built, nf_files("examples").len(), "every example builds for {target}");
        assert!(ran > 50, "{target}: {ran} cases");
    }
}

/// The JIT and the interpreter agree on every example, packet by packet,
/// on the cases' inputs and on mutations of them (bytes flipped, frames
/// cut short): verdicts, bytes, redirects and faults, with the maps
/// evolving alike.
#[test]
fn jit_and_interpreter_agree_on_mutated_packets() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut compared = 0;
    for path in nf_files("examples") {
        let Ok(build) = build_file_for(&path, Target::Helpers) else { continue };
        let text = std::fs::read_to_string(path.with_extension("test")).expect("read .test");
        let mut sources = build.checked.sources.clone();
        let (_, cases, _) = testfile::parse_source(&mut sources, "t", &text);
        let engine = |mode| Engine::new(&build.object, Options { mode, ..Options::default() }).expect("engine");
        let (mut interp, mut jit) = (engine(Mode::Interp), engine(Mode::Jit));
        for case in &cases {
            for round in 0..20 {
                let mut input = case.input.clone();
                if round > 0 && !input.is_empty() {
                    for _ in 0..1 + next() % 3 {
                        let i = (next() % input.len() as u64) as usize;
                        input[i] ^= 1 << (next() % 8);
                    }
                    if round % 5 == 0 {
                        input.truncate((next() % input.len() as u64) as usize);
                    }
                }
                let (a, b) = (interp.run(&input), jit.run(&input));
                assert_eq!(a, b, "{}: case {} round {round}, input {input:02x?}", display_name(&path), case.name);
                compared += 1;
            }
        }
    }
    assert!(compared > 1000, "{compared} packets");
}

/// Every example cut at every statement boundary (as
/// `tests/kernel_stages.rs` cuts them for the kernel): the engine follows
/// the tail calls through the prog array and the cases still pass.
#[test]
fn examples_cut_at_every_boundary_pass_in_the_engine() {
    let mut split = 0;
    for path in nf_files("examples") {
        let name = display_name(&path);
        let text = std::fs::read_to_string(&path).expect("read");
        let yaml = path.with_extension("yaml");
        let yaml_text = yaml.is_file().then(|| std::fs::read_to_string(&yaml).expect("read config"));
        let config = yaml_text.as_deref().map(|t| ("config.yaml", t));
        let mut checked = nfl_compiler::driver::check_with(&name, &text, &mut common::DirLoader(common::root().join("examples")), config).expect("checks");
        let stmts = checked.hir.control.stmts.len();
        checked.hir.stage_cuts = (1..stmts as u32)
            .filter(|&i| matches!(checked.hir.cut_points.get(i as usize), Some(Some(_))))
            .take(nfl_compiler::split::MAX_STAGES - 1)
            .collect();
        if checked.hir.stage_cuts.is_empty() {
            continue;
        }
        // A cut the builder refuses (E0942) is the kernel test's business.
        let Ok(build) = nfl_compiler::driver::build_checked_limited(checked, Target::Helpers, &nfl_compiler::split::Limits::new(None)) else { continue };
        let Some(stages) = build.schema.stages.clone() else { continue };
        split += 1;
        let cases_text = std::fs::read_to_string(path.with_extension("test")).expect("read .test");
        let mut sources = build.checked.sources.clone();
        let (_, cases, _) = testfile::parse_source(&mut sources, "t.test", &cases_text);
        for &mode in nfl_runtime::engine::Mode::ALL {
            let mut engine = Engine::new(&build.object, Options { mode, ..Options::default() }).expect("engine");
            let outcomes = testfile::run_cases_with(engine.hook(), &cases, |input| {
                engine.run(input).map(|r| (r.retval, r.data_out)).map_err(|f| f.to_string())
            });
            assert!(
                outcomes.iter().all(|o| o.passed()),
                "{name} in {} stages ({}):\n{}",
                stages.programs.len(),
                mode.name(),
                testfile::format_outcomes(&outcomes)
            );
        }
    }
    assert!(split >= 5, "only {split} examples split");
}
