//! One module per subcommand.

pub mod build;
pub mod check;
pub mod disasm;
pub mod run;
pub mod test;

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

/// Check a file, printing diagnostics; `None` when it has errors.
pub fn check_file(file: &Path, color: bool) -> Result<Option<Checked>, String> {
    let text = read_source(file)?;
    match driver::check(&file.display().to_string(), &text, &mut loader_for(file)) {
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

/// Compile a file, printing diagnostics; `None` when it fails.
pub fn build_file(file: &Path, color: bool) -> Result<Option<Build>, String> {
    let Some(checked) = check_file(file, color)? else { return Ok(None) };
    match driver::build_checked(checked) {
        Ok(build) => Ok(Some(build)),
        Err(failed) => {
            report::print_diagnostics(&failed.diagnostics, &failed.sources, color);
            Ok(None)
        }
    }
}
