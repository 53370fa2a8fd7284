//! `nflc reload NAME [--config C.yaml]`: recompile a running NF from its
//! recorded source with the (new) config, load it next to the running
//! program reusing its state, swap atomically, and say what happened to each
//! map (docs/running.md, "Reload rules"). A build or load that fails leaves
//! the running program as it was.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use nfl_runtime::cp_error::ControlError;
use nfl_runtime::pins;
use nfl_runtime::reload::{ReloadOptions, ReloadReport, reload_nf};
use nfl_runtime::run::RunError;

use super::run::{absolute, config_used, print_report, print_verifier_log};

/// A reload that went through, and how long compiling took.
pub struct Reloaded {
    pub compile_ms: f64,
    pub report: ReloadReport,
}

/// Why a reload did not happen (already printed).
pub enum NotReloaded {
    /// The build failed: its diagnostics are printed.
    Build,
    Control(ControlError),
    Io(String),
}

/// Compile `source` with `config` for `target` and swap it into run `name`.
pub fn compile_and_swap(name: &str, source: &Path, config: Option<&Path>, target: nfl_compiler::Target, color: bool) -> Result<Reloaded, NotReloaded> {
    let t0 = Instant::now();
    let build = super::build_file_for(source, config, color, target).map_err(NotReloaded::Io)?.ok_or(NotReloaded::Build)?;
    let compile_ms = t0.elapsed().as_secs_f64() * 1e3;
    let opts = ReloadOptions { program: Some(build.checked.hir.name.clone()), config: config.map(absolute) };
    let report = reload_nf(name, &build.object, &opts).map_err(NotReloaded::Control)?;
    Ok(Reloaded { compile_ms, report })
}

/// The report, on standard error.
pub fn print_reloaded(name: &str, r: &Reloaded) {
    let rep = &r.report;
    eprintln!(
        "reloaded `{name}` (prog {} -> {}, link {}): compiled in {:.1} ms, loaded in {:.1} ms (maps {:.1} ms, verifier {:.1} ms), swapped in {:.2} ms",
        rep.old_prog_id,
        rep.new_prog_id,
        rep.link_id,
        r.compile_ms,
        rep.load_ms,
        rep.maps_ms,
        rep.load_ms - rep.maps_ms,
        rep.swap_ms
    );
    let width = rep.maps.iter().map(|m| m.map.len()).max().unwrap_or(0);
    for m in &rep.maps {
        eprintln!("  {:width$}  {:9}  {}", m.map, m.what, m.detail);
    }
}

/// Say why nothing was swapped.
pub fn print_not_reloaded(name: &str, why: &NotReloaded, color: bool) {
    match why {
        NotReloaded::Build => {}
        NotReloaded::Io(msg) => eprintln!("{}", crate::report::error_line(msg, color)),
        NotReloaded::Control(e) => {
            print_report(e, color);
            print_verifier_log(e.trimmed_verifier_log());
        }
    }
    eprintln!("`{name}` is untouched: it keeps running the program it had");
}

pub fn run(name: &str, config: Option<&Path>, color: bool) -> Result<ExitCode, String> {
    let record = match pins::validate_name(name).map(|()| nfl_runtime::record::read(&pins::run_dir(name))) {
        Ok(Some(rec)) => rec,
        Ok(None) => return Ok(fail(RunError::NotRunning(name.to_string()), color)),
        Err(e) => return Ok(fail(e, color)),
    };
    let source = record.source.clone();
    let config = config.map(Path::to_path_buf).or(record.config.clone()).or_else(|| config_used(&source, None));
    // The profile the run was started with (a record without one: helpers).
    let target = record.target.as_deref().and_then(nfl_compiler::Target::parse).unwrap_or_default();
    match compile_and_swap(name, &source, config.as_deref(), target, color) {
        Ok(r) => {
            print_reloaded(name, &r);
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            print_not_reloaded(name, &why, color);
            Ok(ExitCode::FAILURE)
        }
    }
}

fn fail(e: RunError, color: bool) -> ExitCode {
    print_report(&e, color);
    ExitCode::FAILURE
}
