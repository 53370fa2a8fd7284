//! Printing diagnostics and errors, in colour on a terminal.

use std::io::IsTerminal;

use nfl_syntax::{Diagnostic, SourceMap};

use crate::ColorChoice;

/// Whether to colour standard error.
pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal(),
    }
}

pub fn print_diagnostics(diags: &[Diagnostic], sources: &SourceMap, color: bool) {
    for d in diags {
        eprint!("{}", d.render(sources, color));
    }
    let n_errors = diags.iter().filter(|d| d.is_error()).count();
    let n_warnings = diags.len() - n_errors;
    if n_errors > 0 {
        let s = if n_errors == 1 { "" } else { "s" };
        let w = match n_warnings {
            0 => String::new(),
            1 => ", 1 warning".into(),
            n => format!(", {n} warnings"),
        };
        eprintln!("{}", error_line(&format!("{n_errors} error{s}{w}"), color));
    }
}

/// `error: MSG`, with the prefix in red on a colour terminal.
pub fn error_line(msg: &str, color: bool) -> String {
    if color { format!("\x1b[1;31merror\x1b[0m: {msg}") } else { format!("error: {msg}") }
}
