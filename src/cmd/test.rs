//! `nflc test FILE [--target T] [--engine kernel|user|both]`: packet tests
//! through BPF_PROG_TEST_RUN, the userspace engine, or both side by side.

use std::path::Path;
use std::process::ExitCode;

use nfl_runtime::engine::compare::{dump_diff, engine_dump, kernel_dump};
use nfl_runtime::engine::{Engine, Options};
use nfl_runtime::testfile::{self, Case, CaseOutcome, Failure};

use crate::report;

/// Where the cases run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineChoice {
    /// BPF_PROG_TEST_RUN (needs BPF privileges).
    Kernel,
    /// nflc's userspace engine (no privileges).
    User,
    /// Both, failing on any difference in verdict, bytes or maps.
    Both,
}

/// `target` is the profile and the `--max-insns` budget.
pub fn run(
    file: &Path,
    cases: Option<&Path>,
    config: Option<&Path>,
    target: (nfl_compiler::Target, Option<u64>),
    engine: EngineChoice,
    color: bool,
) -> Result<ExitCode, String> {
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
    let outcomes = match engine {
        EngineChoice::Kernel => {
            let prog = load(&build, target)?;
            testfile::run_cases(&prog, &cases)
        }
        EngineChoice::User => {
            let mut eng = new_engine(&build.object)?;
            eprintln!("running in the userspace engine (target {target})");
            let hook = eng.hook();
            testfile::run_cases_with(hook, &cases, |input| eng.run(input).map(|r| (r.retval, r.data_out)).map_err(|f| f.to_string()))
        }
        EngineChoice::Both => both(&build, target, &cases)?,
    };
    print!("{}", testfile::format_outcomes(&outcomes));
    if outcomes.iter().all(|o| o.passed()) { Ok(ExitCode::SUCCESS) } else { Ok(ExitCode::FAILURE) }
}

fn load(build: &nfl_compiler::driver::Build, target: nfl_compiler::Target) -> Result<nfl_runtime::LoadedProgram, String> {
    let prog = nfl_runtime::load(&build.object, Some(&build.checked.hir.name)).map_err(|e| load_failure(&e))?;
    nfl_runtime::state::init_maps(&prog, &build.object).map_err(|e| format!("cannot fill the program's maps: {e}"))?;
    let processed = prog.verified_insns().map_or_else(|| "?".to_string(), |n| n.to_string());
    eprintln!("loaded {} (target {target}): {} insns after the verifier, {processed} processed", prog.name(), prog.xlated_insn_count());
    Ok(prog)
}

fn new_engine(object: &[u8]) -> Result<Engine, String> {
    Engine::new(object, Options::default()).map_err(|e| e.to_string())
}

/// Every case in the kernel, then in the engine: the kernel's outcome,
/// plus a failure for each way the engine differs (verdict, bytes, or the
/// maps after the case).
fn both(build: &nfl_compiler::driver::Build, target: nfl_compiler::Target, cases: &[Case]) -> Result<Vec<CaseOutcome>, String> {
    let prog = load(build, target)?;
    // Per-CPU maps: the kernel runs on this thread's CPU, which the engine is told.
    nfl_runtime::testrun::pin_thread_to_cpu(0).map_err(|e| format!("cannot pin to CPU 0: {e}"))?;
    let world = nfl_runtime::engine::env::World {
        cpu: 0,
        nr_cpus: nfl_runtime::mapops::possible_cpus() as u32,
        real_clock: true,
        ..Default::default()
    };
    let mut eng = Engine::new(&build.object, Options { world, ..Options::default() }).map_err(|e| e.to_string())?;
    eprintln!("running each case in the kernel and in the userspace engine");
    let schema = &build.schema;
    // How the engine differed on each case, in case order.
    let mut differences: Vec<Vec<Failure>> = Vec::new();
    let mut outcomes = testfile::run_cases_with(prog.kind(), cases, |input| {
        let mut diff = Vec::new();
        let kernel = prog.test_run(input, 1).map_err(|e| e.to_string());
        match (&kernel, eng.run(input)) {
            (Ok(k), Ok(u)) => {
                if k.retval != u.retval {
                    diff.push(Failure::Run(format!("the engine's verdict {} differs from the kernel's {}", u.retval, k.retval)));
                }
                if k.data_out != u.data_out {
                    diff.push(Failure::Bytes { expected: k.data_out.clone(), got: u.data_out });
                }
                let maps = kernel_dump(&prog, schema, true).and_then(|kd| Ok((kd, engine_dump(&mut eng, schema, true)?)));
                match maps {
                    Ok((kd, ud)) => diff.extend(dump_diff(&kd, &ud, |_| true).map(|d| Failure::Run(format!("the engine's maps differ from the kernel's: {d}")))),
                    Err(e) => diff.push(Failure::Run(format!("cannot compare maps: {e}"))),
                }
            }
            (Ok(_), Err(f)) => diff.push(Failure::Run(format!("the engine stopped: {f}"))),
            (Err(_), _) => {}
        }
        differences.push(diff);
        kernel.map(|k| (k.retval, k.data_out))
    });
    for (o, d) in outcomes.iter_mut().zip(differences) {
        o.failures.extend(d);
    }
    Ok(outcomes)
}

/// Explain a failed load, with the relevant part of the verifier's log.
pub fn load_failure(e: &nfl_runtime::LoadError) -> String {
    match e.verifier_log() {
        Some(log) => format!("the kernel rejected the program: {e}\n{}", nfl_runtime::trim_verifier_log(log)),
        None => format!("cannot load the program: {e}"),
    }
}
