//! nfl-syntax: `.nf` text to an AST with spans, plus the diagnostics type
//! shared by every later stage. It knows nothing about eBPF and never panics
//! on any input.

pub mod ast;
pub mod diag;
mod parse;
mod prescan;
mod recover;
mod syntax_error;

pub use diag::{Diagnostic, Label, Severity, SourceFile, SourceMap};
pub use parse::parse;
