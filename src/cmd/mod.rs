//! One module per subcommand.

pub mod build;
pub mod check;
pub mod disasm;
pub mod list;
pub mod queue;
pub mod reload;
pub mod run;
pub mod sim;
pub mod sketch;
pub mod stage_stats;
pub mod state;
pub mod stats;
pub mod table;
pub mod test;
pub mod watch;

use std::path::{Path, PathBuf};

use nfl_compiler::driver::{self, Build, Checked};
use nfl_compiler::frontend::ModuleLoader;

use crate::report;

/// Resolves `import a.b` to `a/b.nf` next to the root file.
pub struct DirLoader {
    pub dir: PathBuf,
}

impl ModuleLoader for DirLoader {
    fn load(&mut self, path: &[String]) -> Option<(String, String)> {
        let mut p = self.dir.clone();
        for (i, seg) in path.iter().enumerate() {
            if i + 1 == path.len() {
                p.push(format!("{seg}.nf"));
            } else {
                p.push(seg);
            }
        }
        let text = std::fs::read_to_string(&p).ok()?;
        Some((p.display().to_string(), text))
    }
}

pub fn read_source(file: &Path) -> Result<String, String> {
    std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))
}

fn loader_for(file: &Path) -> DirLoader {
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    DirLoader { dir }
}

/// The config file of `file`: the one given, else `FILE.yaml` next to it
/// when that exists (announced on stderr, so it is never a surprise).
pub fn config_for(file: &Path, given: Option<&Path>) -> Option<PathBuf> {
    if let Some(g) = given {
        return Some(g.to_path_buf());
    }
    let implicit = file.with_extension("yaml");
    implicit.is_file().then(|| {
        eprintln!("using config {}", implicit.display());
        implicit
    })
}

/// Check a file, printing diagnostics; `None` when it has errors.
pub fn check_file_with(file: &Path, config: Option<&Path>, color: bool) -> Result<Option<Checked>, String> {
    let text = read_source(file)?;
    let config = match config_for(file, config) {
        Some(p) => Some((p.display().to_string(), std::fs::read_to_string(&p).map_err(|e| format!("cannot read the config {}: {e}", p.display()))?)),
        None => None,
    };
    let config_ref = config.as_ref().map(|(n, t)| (n.as_str(), t.as_str()));
    match driver::check_with(&file.display().to_string(), &text, &mut loader_for(file), config_ref) {
        Ok(checked) => {
            report::print_diagnostics(&checked.warnings, &checked.sources, color);
            Ok(Some(checked))
        }
        Err(failed) => {
            report::print_diagnostics(&failed.diagnostics, &failed.sources, color);
            Ok(None)
        }
    }
}

/// Compile a file with its default config (see [`config_for`]).
pub fn build_file(file: &Path, color: bool) -> Result<Option<Build>, String> {
    build_file_with(file, None, color)
}

/// Compile a file, printing diagnostics; `None` when it fails.
pub fn build_file_with(file: &Path, config: Option<&Path>, color: bool) -> Result<Option<Build>, String> {
    build_file_for(file, config, color, nfl_compiler::Target::Helpers)
}

/// `--target`: a profile name, or `auto` (probe the running kernel).
pub fn parse_target(s: &str) -> Result<nfl_compiler::Target, String> {
    if s == "auto" {
        return Ok(nfl_runtime::kernel::probe_target());
    }
    nfl_compiler::Target::parse(s).ok_or_else(|| format!("unknown target `{s}`: use helpers, stock, enetstl or auto"))
}

/// [`build_file_with`] for a capability profile.
pub fn build_file_for(file: &Path, config: Option<&Path>, color: bool, target: nfl_compiler::Target) -> Result<Option<Build>, String> {
    build_file_limited(file, config, color, target, None)
}

/// [`build_file_for`] with the user's instruction budget per stage
/// (`--max-insns`); a program over a limit is split into stages.
pub fn build_file_limited(
    file: &Path,
    config: Option<&Path>,
    color: bool,
    target: nfl_compiler::Target,
    max_insns: Option<u64>,
) -> Result<Option<Build>, String> {
    let Some(checked) = check_file_with(file, config, color)? else { return Ok(None) };
    match driver::build_checked_limited(checked, target, &nfl_compiler::split::Limits::new(max_insns)) {
        Ok(build) => Ok(Some(build)),
        Err(failed) => {
            report::print_diagnostics(&failed.diagnostics, &failed.sources, color);
            Ok(None)
        }
    }
}
