//! The `.test` packet-file format (see `docs/test-format.md`) and its runner.
//!
//! A file is a list of cases; each case has an input packet, an expected verdict and,
//! optionally, the expected output bytes:
//!
//! ```text
//! case "udp to blocked port is dropped"
//! in:
//!   02 00 00 00 00 02  02 00 00 00 00 01  08 00   # ethernet
//!   45 00 00 1c ...
//! expect: drop
//! ```
//!
//! Parsing never stops at the first problem: [`parse`] returns every case it could
//! build plus a diagnostic (codes `nfl::E06xx`) for everything wrong, pointing at
//! spans of the `.test` file.

use std::fmt::{self, Write as _};

use nfl_syntax::ast::{FileId, Span};
use nfl_syntax::{Diagnostic, SourceMap};

use crate::load::{LoadedProgram, ProgramKind};
use crate::testrun::MIN_PACKET_LEN;

/// Unexpected text: an unknown keyword, bytes outside `in:`/`out:`, trailing words.
pub const E_UNEXPECTED: &str = "nfl::E0601";
/// A token in an `in:` or `out:` block that is not hex bytes.
pub const E_BAD_HEX: &str = "nfl::E0602";
/// An `expect:` that names no known verdict, or a bad `retval`.
pub const E_BAD_EXPECT: &str = "nfl::E0603";
/// A case without `in:` or without `expect:`.
pub const E_MISSING: &str = "nfl::E0604";
/// `in:`, `out:` or `expect:` given twice in one case.
pub const E_DUPLICATE_KEY: &str = "nfl::E0605";
/// A malformed `case "name"` header.
pub const E_BAD_CASE: &str = "nfl::E0606";
/// An input packet shorter than the kernel's minimum, or an empty `out:`.
pub const E_SHORT_PACKET: &str = "nfl::E0607";
/// Two cases with the same name.
pub const E_DUPLICATE_CASE: &str = "nfl::E0608";
/// A file without any case.
pub const E_NO_CASES: &str = "nfl::E0609";

/// A verdict, independent of the hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Pass,
    Drop,
    Tx,
    Abort,
    Redirect,
}

impl Verdict {
    pub const ALL: [Verdict; 5] = [
        Verdict::Pass,
        Verdict::Drop,
        Verdict::Tx,
        Verdict::Abort,
        Verdict::Redirect,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Drop => "drop",
            Verdict::Tx => "tx",
            Verdict::Abort => "abort",
            Verdict::Redirect => "redirect",
        }
    }

    pub fn from_name(name: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.name() == name)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The return value a program at `hook` gives for `verdict`.
///
/// XDP: `XDP_ABORTED`=0, `XDP_DROP`=1, `XDP_PASS`=2, `XDP_TX`=3, `XDP_REDIRECT`=4.
/// TC: pass is `TC_ACT_OK`=0, drop and abort are `TC_ACT_SHOT`=2, redirect is
/// `TC_ACT_REDIRECT`=7, and tx is a redirect to the ingress ifindex, so also 7.
pub fn verdict_retval(hook: ProgramKind, verdict: Verdict) -> u32 {
    match (hook, verdict) {
        (ProgramKind::Xdp, Verdict::Abort) => 0,
        (ProgramKind::Xdp, Verdict::Drop) => 1,
        (ProgramKind::Xdp, Verdict::Pass) => 2,
        (ProgramKind::Xdp, Verdict::Tx) => 3,
        (ProgramKind::Xdp, Verdict::Redirect) => 4,
        (ProgramKind::Tc, Verdict::Pass) => 0,
        (ProgramKind::Tc, Verdict::Drop | Verdict::Abort) => 2,
        (ProgramKind::Tc, Verdict::Redirect | Verdict::Tx) => 7,
    }
}

/// The verdict a return value means at `hook`. Where two verdicts share a value (TC
/// drop/abort, TC redirect/tx), the first of each pair is returned. `None` for values
/// that are no verdict (e.g. XDP 5, or TC_ACT_UNSPEC).
pub fn verdict_from_retval(hook: ProgramKind, retval: u32) -> Option<Verdict> {
    match (hook, retval) {
        (ProgramKind::Xdp, 0) => Some(Verdict::Abort),
        (ProgramKind::Xdp, 1) => Some(Verdict::Drop),
        (ProgramKind::Xdp, 2) => Some(Verdict::Pass),
        (ProgramKind::Xdp, 3) => Some(Verdict::Tx),
        (ProgramKind::Xdp, 4) => Some(Verdict::Redirect),
        (ProgramKind::Tc, 0) => Some(Verdict::Pass),
        (ProgramKind::Tc, 2) => Some(Verdict::Drop),
        (ProgramKind::Tc, 7) => Some(Verdict::Redirect),
        _ => None,
    }
}

/// What a case expects the program to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Verdict(Verdict),
    /// `expect: retval N`: an exact return value, whatever the hook.
    Retval(u32),
}

impl Expect {
    fn retval(self, hook: ProgramKind) -> u32 {
        match self {
            Expect::Verdict(v) => verdict_retval(hook, v),
            Expect::Retval(n) => n,
        }
    }

    /// The verdict's name, or `retval N`.
    pub fn describe(self) -> String {
        match self {
            Expect::Verdict(v) => v.name().to_string(),
            Expect::Retval(n) => format!("retval {n}"),
        }
    }
}

/// One packet test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub name: String,
    /// The `case "name"` header.
    pub span: Span,
    pub input: Vec<u8>,
    pub expect: Expect,
    /// Expected output bytes; `None` when the case does not check them.
    pub output: Option<Vec<u8>>,
}

/// Parse `.test` text from `file`. Returns the cases that are complete and valid and
/// every diagnostic found; a caller should run nothing if any diagnostic is an error.
pub fn parse(text: &str, file: FileId) -> (Vec<Case>, Vec<Diagnostic>) {
    let mut parser = Parser {
        file,
        diags: Vec::new(),
        cases: Vec::new(),
        current: None,
        section: None,
        scratch: false,
        names: Vec::new(),
        current_rejected: false,
        bad_bytes: false,
    };
    let mut line_start = 0usize;
    for line in text.split_inclusive('\n') {
        parser.line(line, line_start);
        line_start += line.len();
    }
    parser.finish_case();
    if parser.cases.is_empty() && !parser.diags.iter().any(Diagnostic::is_error) {
        parser.diags.push(
            Diagnostic::error(
                E_NO_CASES,
                "the test file has no cases",
                Span::new(file, 0, 0),
                "no `case` here",
            )
            .with_help("start a case with `case \"name\"`, then give `in:` and `expect:`"),
        );
    }
    (parser.cases, parser.diags)
}

/// Register `text` under `name` in `sources` and parse it.
pub fn parse_source(
    sources: &mut SourceMap,
    name: &str,
    text: &str,
) -> (FileId, Vec<Case>, Vec<Diagnostic>) {
    let file = sources.add(name, text);
    let (cases, diags) = parse(text, file);
    (file, cases, diags)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    In,
    Out,
}

/// A case being assembled.
struct PartialCase {
    name: String,
    span: Span,
    input: Option<(Vec<u8>, Span)>,
    output: Option<(Vec<u8>, Span)>,
    expect: Option<(Option<Expect>, Span)>,
}

impl PartialCase {
    fn new(name: String, span: Span) -> PartialCase {
        PartialCase { name, span, input: None, output: None, expect: None }
    }
}

struct Parser {
    file: FileId,
    diags: Vec<Diagnostic>,
    cases: Vec<Case>,
    current: Option<PartialCase>,
    /// The byte block that continuation lines extend.
    section: Option<Section>,
    /// The open block is a duplicate: its bytes are checked but thrown away.
    scratch: bool,
    /// Every case name seen so far, valid case or not, with its header.
    names: Vec<(String, Span)>,
    /// The open case has a bad or repeated name, so it is checked but not kept.
    current_rejected: bool,
    /// The open case had a malformed byte, so its lengths mean nothing.
    bad_bytes: bool,
}

/// Split `s` (starting at file offset `base`) into whitespace-separated tokens with
/// their file offsets.
fn tokens(s: &str, base: usize) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            if let Some(st) = start.take() {
                out.push((base + st, &s[st..i]));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(st) = start {
        out.push((base + st, &s[st..]));
    }
    out
}

/// The part of a line before its `#` comment; a `#` inside a quoted case name does
/// not start a comment.
fn strip_comment(line: &str) -> &str {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c == '#' {
            return &line[..i];
        }
    }
    line
}

/// Decode one token of hex digits (two per byte).
fn decode_hex(token: &str) -> Option<Vec<u8>> {
    if token.is_empty()
        || !token.len().is_multiple_of(2)
        || !token.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

fn parse_number(s: &str) -> Option<u32> {
    let s = s.replace('_', "");
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else {
        s.parse().ok()
    }
}

const KEYWORDS_HELP: &str = "a line starts with `case \"name\"`, `in:`, `out:` or `expect:`, or continues an `in:`/`out:` block with hex bytes";

impl Parser {
    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end)
    }

    fn line(&mut self, raw: &str, base: usize) {
        let code = strip_comment(raw);
        let trimmed = code.trim_start();
        if trimmed.trim().is_empty() {
            return;
        }
        let indent = code.len() - trimmed.len();
        let at = base + indent;
        let first_word_len = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
        let first_word = &trimmed[..first_word_len];

        if first_word == "case" || trimmed.starts_with("case\"") {
            self.case_header(&trimmed[4..], at, at + 4);
            return;
        }
        for (kw, section) in [
            ("in:", Some(Section::In)),
            ("out:", Some(Section::Out)),
            ("expect:", None),
        ] {
            if let Some(rest) = trimmed.strip_prefix(kw) {
                let kw_span = self.span(at, at + kw.len());
                let rest_base = at + kw.len();
                match section {
                    Some(s) => self.open_section(s, kw, kw_span, rest, rest_base),
                    None => self.expect_line(kw_span, rest, rest_base),
                }
                return;
            }
        }
        let looks_like_keyword = first_word.len() > 1
            && first_word.ends_with(':')
            && first_word[..first_word.len() - 1]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if looks_like_keyword {
            let end = at + trimmed.trim_end().len();
            self.diags.push(
                Diagnostic::error(
                    E_UNEXPECTED,
                    format!("unknown keyword `{first_word}`"),
                    self.span(at, end),
                    "not a keyword of .test files",
                )
                .with_help(KEYWORDS_HELP),
            );
            return;
        }
        // Anything else continues the open byte block, or is a mistake.
        if self.section.is_some() {
            self.bytes(code, base);
            return;
        }
        let span = self.span(at, at + first_word_len);
        let diag = if decode_hex(first_word).is_some() {
            Diagnostic::error(
                E_UNEXPECTED,
                "bytes outside an `in:` or `out:` block",
                span,
                "these bytes belong to no block",
            )
        } else {
            Diagnostic::error(
                E_UNEXPECTED,
                format!("unexpected `{first_word}`"),
                span,
                "expected a keyword here",
            )
        };
        self.diags.push(diag.with_help(KEYWORDS_HELP));
    }

    fn case_header(&mut self, rest: &str, line_at: usize, rest_base: usize) {
        self.finish_case();
        self.section = None;
        let trimmed = rest.trim_start();
        let name_at = rest_base + (rest.len() - trimmed.len());
        let header_end = rest_base + rest.trim_end().len();
        let header_span = self.span(line_at, header_end);
        let Some(body) = trimmed.strip_prefix('"') else {
            self.diags.push(
                Diagnostic::error(
                    E_BAD_CASE,
                    "a case needs a quoted name",
                    header_span,
                    "missing `\"name\"`",
                )
                .with_help("write `case \"what this case checks\"`"),
            );
            // Still collect the case's blocks, so their own errors are reported.
            self.current = Some(PartialCase::new(String::new(), header_span));
            self.current_rejected = true;
            return;
        };
        let mut name = String::new();
        let mut escaped = false;
        let mut close = None;
        for (i, c) in body.char_indices() {
            if escaped {
                name.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                close = Some(i);
                break;
            } else {
                name.push(c);
            }
        }
        let Some(close) = close else {
            self.diags.push(
                Diagnostic::error(
                    E_BAD_CASE,
                    "unterminated case name",
                    header_span,
                    "the closing `\"` is missing",
                )
                .with_help("case names are written in double quotes on one line"),
            );
            self.current = Some(PartialCase::new(name, header_span));
            self.current_rejected = true;
            return;
        };
        let after = &body[close + 1..];
        let after_at = name_at + 1 + close + 1;
        if let Some(&(tok_at, tok)) = tokens(after, after_at).first() {
            let end = after_at + after.trim_end().len();
            self.diags.push(
                Diagnostic::error(
                    E_UNEXPECTED,
                    format!("unexpected `{tok}` after the case name"),
                    self.span(tok_at, end),
                    "unexpected",
                )
                .with_help("put `in:`, `out:` and `expect:` on their own lines"),
            );
        }
        if name.trim().is_empty() {
            self.diags.push(Diagnostic::error(
                E_BAD_CASE,
                "empty case name",
                header_span,
                "name this case",
            ));
        }
        if let Some(&(_, prev_span)) = self
            .names
            .iter()
            .find(|(n, _)| *n == name && !name.is_empty())
        {
            self.diags.push(
                Diagnostic::error(
                    E_DUPLICATE_CASE,
                    format!("duplicate case name \"{name}\""),
                    header_span,
                    "second case with this name",
                )
                .with_label(prev_span, "first defined here")
                .with_help("case names identify failures; make them unique"),
            );
        }
        let duplicate = self.names.iter().any(|(n, _)| *n == name);
        self.names.push((name.clone(), header_span));
        self.current = Some(PartialCase::new(name, header_span));
        self.current_rejected = duplicate;
    }

    fn open_section(
        &mut self,
        section: Section,
        kw: &str,
        kw_span: Span,
        rest: &str,
        rest_base: usize,
    ) {
        let Some(case) = self.current.as_mut() else {
            self.diags.push(
                Diagnostic::error(
                    E_UNEXPECTED,
                    format!("`{kw}` before any case"),
                    kw_span,
                    "no case is open",
                )
                .with_help("start a case with `case \"name\"`"),
            );
            self.section = None;
            return;
        };
        let slot = match section {
            Section::In => &mut case.input,
            Section::Out => &mut case.output,
        };
        if let Some((_, first)) = slot {
            let first = *first;
            self.diags.push(
                Diagnostic::error(E_DUPLICATE_KEY, format!("`{kw}` given twice in one case"), kw_span, "second block")
                    .with_label(first, "first block")
                    .with_help("a case has one input packet and at most one expected output; start a new `case` for another packet"),
            );
            // Keep reading into a scratch block so its hex errors still show.
            self.section = Some(section);
            self.scratch = true;
            self.bytes(rest, rest_base);
            return;
        }
        *slot = Some((Vec::new(), kw_span));
        self.section = Some(section);
        self.scratch = false;
        self.bytes(rest, rest_base);
    }

    /// Hex bytes on a line of an open `in:`/`out:` block.
    fn bytes(&mut self, s: &str, base: usize) {
        let mut decoded = Vec::new();
        let mut last_end = None;
        for (at, tok) in tokens(s, base) {
            match decode_hex(tok) {
                Some(bytes) => {
                    decoded.extend_from_slice(&bytes);
                    last_end = Some(at + tok.len());
                }
                None => {
                    self.bad_bytes = true;
                    let span = self.span(at, at + tok.len());
                    let (msg, label) = if tok.bytes().all(|b| b.is_ascii_hexdigit()) {
                        (
                            format!("odd number of hex digits in `{tok}`"),
                            "each byte needs two hex digits",
                        )
                    } else {
                        (format!("`{tok}` is not hex bytes"), "not a hex byte")
                    };
                    self.diags.push(
                        Diagnostic::error(E_BAD_HEX, msg, span, label)
                            .with_help("bytes are pairs of hex digits separated by spaces, e.g. `08 00` (or `0800`); comments start with `#`"),
                    );
                }
            }
        }
        if self.scratch {
            return;
        }
        let (Some(case), Some(section)) = (self.current.as_mut(), self.section) else {
            return;
        };
        let slot = match section {
            Section::In => &mut case.input,
            Section::Out => &mut case.output,
        };
        if let Some((bytes, span)) = slot {
            bytes.extend_from_slice(&decoded);
            if let Some(end) = last_end {
                *span = span.to(Span::new(span.file, end, end));
            }
        }
    }

    fn expect_line(&mut self, kw_span: Span, rest: &str, rest_base: usize) {
        self.section = None;
        let toks = tokens(rest, rest_base);
        let line_span = toks.last().map_or(kw_span, |&(at, tok)| {
            kw_span.to(self.span(at, at + tok.len()))
        });
        let verdict_names = Verdict::ALL.map(Verdict::name).join(", ");
        let help = format!("expect one of {verdict_names}, or `retval N`");
        let expect = match toks.as_slice() {
            [] => {
                self.diags.push(
                    Diagnostic::error(
                        E_BAD_EXPECT,
                        "`expect:` needs a verdict",
                        kw_span,
                        "no verdict after this",
                    )
                    .with_help(help),
                );
                None
            }
            [(at, word), extra @ ..] if *word == "retval" => {
                let word_span = self.span(*at, at + word.len());
                match extra {
                    [(n_at, n)] => match parse_number(n) {
                        Some(v) => Some(Expect::Retval(v)),
                        None => {
                            self.diags.push(
                                Diagnostic::error(E_BAD_EXPECT, format!("`{n}` is not a return value"), self.span(*n_at, n_at + n.len()), "expected a number")
                                    .with_help("write the value in decimal or hex, e.g. `retval 5` or `retval 0x7`"),
                            );
                            None
                        }
                    },
                    [] => {
                        self.diags.push(
                            Diagnostic::error(
                                E_BAD_EXPECT,
                                "`retval` needs a number",
                                word_span,
                                "no number after this",
                            )
                            .with_help("e.g. `expect: retval 5`"),
                        );
                        None
                    }
                    [_, (x_at, x), ..] => {
                        let end = toks.last().map_or(x_at + x.len(), |(a, t)| a + t.len());
                        self.diags.push(
                            Diagnostic::error(
                                E_UNEXPECTED,
                                format!("unexpected `{x}` after the return value"),
                                self.span(*x_at, end),
                                "unexpected",
                            )
                            .with_help("`expect:` takes a single verdict"),
                        );
                        None
                    }
                }
            }
            [(at, word), extra @ ..] => {
                let word_span = self.span(*at, at + word.len());
                let verdict = Verdict::from_name(word);
                if verdict.is_none() {
                    self.diags.push(
                        Diagnostic::error(
                            E_BAD_EXPECT,
                            format!("unknown verdict `{word}`"),
                            word_span,
                            "not a verdict",
                        )
                        .with_help(help),
                    );
                }
                if let Some((x_at, x)) = extra.first() {
                    let end = toks.last().map_or(x_at + x.len(), |(a, t)| a + t.len());
                    self.diags.push(
                        Diagnostic::error(E_UNEXPECTED, format!("unexpected `{x}` after the verdict"), self.span(*x_at, end), "unexpected")
                            .with_help("`expect:` takes a single verdict; put the next keyword on its own line"),
                    );
                }
                verdict.map(Expect::Verdict)
            }
        };
        let Some(case) = self.current.as_mut() else {
            self.diags.push(
                Diagnostic::error(
                    E_UNEXPECTED,
                    "`expect:` before any case",
                    kw_span,
                    "no case is open",
                )
                .with_help("start a case with `case \"name\"`"),
            );
            return;
        };
        if let Some((_, first)) = case.expect {
            self.diags.push(
                Diagnostic::error(
                    E_DUPLICATE_KEY,
                    "`expect:` given twice in one case",
                    line_span,
                    "second `expect:`",
                )
                .with_label(first, "first `expect:`")
                .with_help("a case has one expected verdict"),
            );
            return;
        }
        case.expect = Some((expect, line_span));
    }

    /// Close the open case: check it is complete and keep it if it is.
    fn finish_case(&mut self) {
        self.section = None;
        self.scratch = false;
        let bad_bytes = std::mem::take(&mut self.bad_bytes);
        let Some(case) = self.current.take() else {
            return;
        };
        let mut ok = !case.name.trim().is_empty() && !self.current_rejected;
        let input = match case.input {
            None => {
                self.diags.push(
                    Diagnostic::error(
                        E_MISSING,
                        format!("case \"{}\" has no input packet", case.name),
                        case.span,
                        "this case has no `in:`",
                    )
                    .with_help("add an `in:` block with the packet's bytes in hex"),
                );
                ok = false;
                Vec::new()
            }
            Some((bytes, span)) => {
                if bad_bytes {
                    ok = false;
                } else if bytes.len() < MIN_PACKET_LEN {
                    self.diags.push(
                        Diagnostic::error(
                            E_SHORT_PACKET,
                            format!("input packet is {} bytes; the kernel needs at least {MIN_PACKET_LEN}", bytes.len()),
                            span,
                            "too short",
                        )
                        .with_help("BPF_PROG_TEST_RUN refuses packets shorter than an Ethernet header; pad the packet"),
                    );
                    ok = false;
                }
                bytes
            }
        };
        let output = match case.output {
            Some((bytes, span)) if bytes.is_empty() && !bad_bytes => {
                self.diags.push(
                    Diagnostic::error(E_SHORT_PACKET, "`out:` has no bytes", span, "empty block")
                        .with_help("give the expected output bytes, or remove `out:` to leave them unchecked"),
                );
                ok = false;
                None
            }
            other => other.map(|(bytes, _)| bytes),
        };
        let expect = match case.expect {
            None => {
                self.diags.push(
                    Diagnostic::error(
                        E_MISSING,
                        format!("case \"{}\" has no `expect:`", case.name),
                        case.span,
                        "this case expects nothing",
                    )
                    .with_help("add `expect: pass` (or drop, tx, abort, redirect, retval N)"),
                );
                None
            }
            Some((e, _)) => e,
        };
        if let (true, Some(expect)) = (ok, expect) {
            self.cases.push(Case {
                name: case.name,
                span: case.span,
                input,
                expect,
                output,
            });
        }
    }
}

/// Why a case failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The program returned something else than the case expects.
    Verdict { expected: String, got: String },
    /// The output packet differs from the case's `out:`.
    Bytes { expected: Vec<u8>, got: Vec<u8> },
    /// The test run itself failed.
    Run(String),
}

/// The result of running one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseOutcome {
    pub name: String,
    /// What the program returned, when it ran.
    pub retval: Option<u32>,
    /// Empty when the case passed.
    pub failures: Vec<Failure>,
}

impl CaseOutcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// How a return value reads at `hook`: its verdict name, or `retval N`.
pub fn describe_retval(hook: ProgramKind, retval: u32) -> String {
    match verdict_from_retval(hook, retval) {
        Some(v) => v.name().to_string(),
        None => format!("retval {retval}"),
    }
}

/// Run every case against `prog` with `BPF_PROG_TEST_RUN`.
pub fn run_cases(prog: &LoadedProgram, cases: &[Case]) -> Vec<CaseOutcome> {
    run_cases_with(prog.kind(), cases, |input| {
        prog.test_run(input, 1).map(|r| (r.retval, r.data_out)).map_err(|e| e.to_string())
    })
}

/// Run every case through `run` (packet in, verdict and packet out) for a
/// program at `hook`: the kernel or the userspace engine.
pub fn run_cases_with(
    hook: ProgramKind,
    cases: &[Case],
    mut run: impl FnMut(&[u8]) -> Result<(u32, Vec<u8>), String>,
) -> Vec<CaseOutcome> {
    cases
        .iter()
        .map(|case| {
            let mut failures = Vec::new();
            let mut retval = None;
            match run(&case.input) {
                Err(e) => failures.push(Failure::Run(e)),
                Ok((got_retval, data_out)) => {
                    retval = Some(got_retval);
                    if got_retval != case.expect.retval(hook) {
                        let expected = case.expect.describe();
                        // Show the number too when the names alone would read alike.
                        let got = match case.expect {
                            Expect::Retval(_) => format!("retval {got_retval}"),
                            Expect::Verdict(_) => describe_retval(hook, got_retval),
                        };
                        failures.push(Failure::Verdict { expected, got });
                    }
                    if let Some(out) = &case.output
                        && *out != data_out
                    {
                        failures.push(Failure::Bytes {
                            expected: out.clone(),
                            got: data_out,
                        });
                    }
                }
            }
            CaseOutcome {
                name: case.name.clone(),
                retval,
                failures,
            }
        })
        .collect()
}

/// A report: one `PASS name` or `FAIL name: ...` line per case, a hex diff under each
/// byte mismatch, and a final `N passed, M failed` line.
pub fn format_outcomes(outcomes: &[CaseOutcome]) -> String {
    let mut out = String::new();
    for o in outcomes {
        if o.passed() {
            let _ = writeln!(out, "PASS {}", o.name);
            continue;
        }
        for f in &o.failures {
            match f {
                Failure::Verdict { expected, got } => {
                    let _ = writeln!(out, "FAIL {}: expected {expected}, got {got}", o.name);
                }
                Failure::Run(e) => {
                    let _ = writeln!(out, "FAIL {}: test run failed: {e}", o.name);
                }
                Failure::Bytes { expected, got } => {
                    let n_diff = (0..expected.len().max(got.len()))
                        .filter(|&i| expected.get(i) != got.get(i))
                        .count();
                    let _ = writeln!(
                        out,
                        "FAIL {}: output bytes differ ({n_diff} byte(s); expected {} bytes, got {})",
                        o.name,
                        expected.len(),
                        got.len()
                    );
                    out.push_str(&hex_diff(expected, got));
                }
            }
        }
    }
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    let _ = writeln!(out, "{passed} passed, {} failed", outcomes.len() - passed);
    out
}

/// Bytes per row of [`hex_diff`].
const DIFF_ROW: usize = 16;

/// A hex diff of two packets: for each 16-byte row that differs, the offset, the
/// expected and the actual bytes, and a line marking the differing bytes with `^^`.
/// Bytes beyond the end of a packet show as `--`. Rows that agree are left out.
pub fn hex_diff(expected: &[u8], got: &[u8]) -> String {
    let len = expected.len().max(got.len());
    let mut out = String::new();
    let cell = |b: Option<&u8>| b.map_or_else(|| "--".to_string(), |b| format!("{b:02x}"));
    for row in (0..len).step_by(DIFF_ROW) {
        let idx: Vec<usize> = (row..(row + DIFF_ROW).min(len)).collect();
        if idx.iter().all(|&i| expected.get(i) == got.get(i)) {
            continue;
        }
        let exp: Vec<String> = idx.iter().map(|&i| cell(expected.get(i))).collect();
        let act: Vec<String> = idx.iter().map(|&i| cell(got.get(i))).collect();
        let marks: Vec<&str> = idx
            .iter()
            .map(|&i| {
                if expected.get(i) == got.get(i) {
                    "  "
                } else {
                    "^^"
                }
            })
            .collect();
        let _ = writeln!(out, "  {row:04x}  expected {}", exp.join(" "));
        let _ = writeln!(out, "        got      {}", act.join(" "));
        let _ = writeln!(out, "                 {}", marks.join(" ").trim_end());
    }
    out
}
