//! The userspace engine: runs the very eBPF object nflc emits, without the
//! kernel (docs/engine.md). `image` reads and links the object, `vm` is the
//! memory model and calling convention, `interp` the reference
//! interpreter, `jit` the Cranelift compiler, `maps`, `calls` and
//! `kfuncs` what programs call, `run` the engine a caller drives.

pub mod calls;
pub mod compare;
pub mod env;
pub mod image;
pub mod interp;
pub mod jit;
pub mod kfuncs;
pub mod maps;
mod run;
pub mod vm;

pub use run::{Engine, EngineRun, Fault, Mode, Options};

/// Why the engine could not take an object.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EngineError {
    #[error("cannot run this object in the userspace engine: {0}")]
    #[diagnostic(code(nfl::E0960), help("the engine runs XDP and TC programs built by nflc (or clang) with the maps, helpers and kfuncs docs/engine.md lists"))]
    Object(String),
    #[error("cannot compile `{program}` to native code: {message}")]
    #[diagnostic(code(nfl::E0961), help("run it with `--engine-mode interp` and report the program"))]
    Jit { program: String, message: String },
}
