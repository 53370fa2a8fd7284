//! Building generated programs whole or split, for the stage tests.

use nfl_compiler::driver::{self, Build, Checked};
use nfl_compiler::split::Limits;
use nfl_compiler::target::Target;

use super::{DirLoader, root};

pub fn check_text(name: &str, text: &str) -> Checked {
    match driver::check(name, text, &mut DirLoader(root())) {
        Ok(c) => c,
        Err(f) => panic!("{name} does not check:\n{}", nfl_syntax::diag::render_all(&f.diagnostics, &f.sources, false)),
    }
}

/// The program as one, whatever it costs (no splitting).
pub fn build_whole(name: &str, text: &str) -> Build {
    let limits = Limits { processed: u64::MAX, ..Limits::new(None) };
    match driver::build_checked_limited(check_text(name, text), Target::Helpers, &limits) {
        Ok(b) => b,
        Err(f) => panic!("{name} does not build as one program:\n{}", nfl_syntax::diag::render_all(&f.diagnostics, &f.sources, false)),
    }
}

pub fn build_split(name: &str, text: &str) -> Build {
    match driver::build_checked_limited(check_text(name, text), Target::Helpers, &Limits::new(None)) {
        Ok(b) => b,
        Err(f) => panic!("{name} does not build:\n{}", nfl_syntax::diag::render_all(&f.diagnostics, &f.sources, false)),
    }
}

pub fn stats_line(build: &Build, prog: &nfl_runtime::LoadedProgram) -> String {
    let actual: Vec<Option<u32>> =
        std::iter::once(prog.verified_insns()).chain(prog.stages().iter().map(|s| s.verified_insns)).collect();
    build
        .all_stages()
        .iter()
        .zip(&actual)
        .map(|((name, cg), a)| {
            format!("{name}: {} insns, est {} processed, actual {:?}, {} B stack", cg.estimate.insns, cg.estimate.processed, a, cg.estimate.stack)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

