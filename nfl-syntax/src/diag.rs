//! Diagnostics shared by every stage: a stable code, a message, labelled
//! spans and a help line, rendered through miette.
//!
//! Stages collect `Vec<Diagnostic>` and keep going; nothing here stops at the
//! first error. Codes are stable and documented in `docs/diagnostics.md`:
//! `E01xx` syntax, `E02xx` names and declarations, `E03xx` types and widths,
//! `E04xx` parser graphs, `E05xx` control flow, `E09xx` build and load.

use std::fmt;

use crate::ast::{FileId, Span};

/// A loaded source file.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The name shown in diagnostics (a path, or `std/net.nf` for stdlib).
    pub name: String,
    pub text: String,
}

/// All source files of one compilation, indexed by [`FileId`].
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        self.files.push(SourceFile { name: name.into(), text: text.into() });
        id
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i as u32), f))
    }

    /// 1-based line number of a span's start, if the file is known.
    pub fn line_of(&self, span: Span) -> Option<usize> {
        let file = self.get(span.file)?;
        let upto = file.text.get(..(span.start as usize).min(file.text.len()))?;
        Some(upto.bytes().filter(|b| *b == b'\n').count() + 1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable code such as `nfl::E0102`.
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// The first label is the primary one; it decides which file is shown.
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>, span: Span, label: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: vec![Label { span, message: label.into() }],
            help: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>, span: Span, label: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message, span, label) }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label { span, message: message.into() });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    pub fn primary_span(&self) -> Option<Span> {
        self.labels.first().map(|l| l.span)
    }

    /// Render with miette's graphical handler. `color` selects ANSI colour;
    /// snapshots and non-terminals use `false`.
    pub fn render(&self, sources: &SourceMap, color: bool) -> String {
        let report = Rendered::new(self, sources);
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
        let mut out = String::new();
        if handler.render_report(&mut out, &report).is_err() {
            out = format!("{}: {}\n", self.code, self.message);
        }
        out
    }
}

/// Render a list of diagnostics, one after another.
pub fn render_all(diags: &[Diagnostic], sources: &SourceMap, color: bool) -> String {
    diags.iter().map(|d| d.render(sources, color)).collect::<Vec<_>>().join("\n")
}

/// A diagnostic bound to its source text, in the shape miette wants.
struct Rendered {
    code: &'static str,
    severity: Severity,
    message: String,
    help: Option<String>,
    labels: Vec<miette::LabeledSpan>,
    source: Option<miette::NamedSource<String>>,
}

impl Rendered {
    fn new(diag: &Diagnostic, sources: &SourceMap) -> Rendered {
        let primary_file = diag.labels.first().map(|l| l.span.file);
        let file = primary_file.and_then(|f| sources.get(f));
        let labels = match (primary_file, file) {
            (Some(fid), Some(file)) => diag
                .labels
                .iter()
                .filter(|l| l.span.file == fid)
                .map(|l| {
                    let start = (l.span.start as usize).min(file.text.len());
                    let end = (l.span.end as usize).clamp(start, file.text.len());
                    miette::LabeledSpan::new(Some(l.message.clone()), start, end - start)
                })
                .collect(),
            _ => Vec::new(),
        };
        Rendered {
            code: diag.code,
            severity: diag.severity,
            message: diag.message.clone(),
            help: diag.help.clone(),
            labels,
            source: file.map(|f| miette::NamedSource::new(f.name.clone(), f.text.clone())),
        }
    }
}

impl fmt::Debug for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Rendered {}

impl miette::Diagnostic for Rendered {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }
}
