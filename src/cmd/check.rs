//! `nflc check FILE`

use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path, config: Option<&Path>, color: bool) -> Result<ExitCode, String> {
    match super::check_file_with(file, config, color)? {
        Some(checked) => {
            let hir = &checked.hir;
            let n_states = hir.parser.as_ref().map_or(0, |p| p.states.len());
            println!(
                "ok: {} ({} headers, {} parser states, hook {:?})",
                file.display(),
                hir.headers.len(),
                n_states,
                hir.hook
            );
            Ok(ExitCode::SUCCESS)
        }
        None => Ok(ExitCode::FAILURE),
    }
}
