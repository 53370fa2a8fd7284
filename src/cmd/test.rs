//! `nflc test FILE [--target T]`: packet tests through BPF_PROG_TEST_RUN.

use std::path::Path;
use std::process::ExitCode;

use nfl_runtime::testfile;

use crate::report;

/// `target` is the profile and the `--max-insns` budget.
pub fn run(file: &Path, cases: Option<&Path>, config: Option<&Path>, target: (nfl_compiler::Target, Option<u64>), color: bool) -> Result<ExitCode, String> {
    let (target, max_insns) = target;
    let case_path = cases.map(Path::to_path_buf).unwrap_or_else(|| file.with_extension("test"));
    let case_text = std::fs::read_to_string(&case_path)
        .map_err(|e| format!("cannot read the test file {}: {e}", case_path.display()))?;
    let Some(build) = super::build_file_limited(file, config, color, target, max_insns)? else { return Ok(ExitCode::FAILURE) };
    let mut sources = build.checked.sources.clone();
    let (_, cases, diags) = testfile::parse_source(&mut sources, &case_path.display().to_string(), &case_text);
    report::print_diagnostics(&diags, &sources, color);
    if diags.iter().any(|d| d.is_error()) {
        return Ok(ExitCode::FAILURE);
    }
    let prog = match nfl_runtime::load(&build.object, Some(&build.checked.hir.name)) {
        Ok(p) => p,
        Err(e) => return Err(super::super::cmd::test::load_failure(&e)),
    };
    nfl_runtime::state::init_maps(&prog, &build.object).map_err(|e| format!("cannot fill the program's maps: {e}"))?;
    let processed = prog.verified_insns().map_or_else(|| "?".to_string(), |n| n.to_string());
    eprintln!("loaded {} (target {target}): {} insns after the verifier, {processed} processed", prog.name(), prog.xlated_insn_count());
    let outcomes = testfile::run_cases(&prog, &cases);
    print!("{}", testfile::format_outcomes(&outcomes));
    if outcomes.iter().all(|o| o.passed()) { Ok(ExitCode::SUCCESS) } else { Ok(ExitCode::FAILURE) }
}

/// Explain a failed load, with the relevant part of the verifier's log.
pub fn load_failure(e: &nfl_runtime::LoadError) -> String {
    match e.verifier_log() {
        Some(log) => format!("the kernel rejected the program: {e}\n{}", nfl_runtime::trim_verifier_log(log)),
        None => format!("cannot load the program: {e}"),
    }
}
