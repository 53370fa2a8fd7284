//! A cheap lexical pass that runs before pest.
//!
//! It does three jobs that pest cannot do well:
//! - it splits the file into top-level items, so that a syntax error in one
//!   item does not hide the errors (and the declarations) of the others;
//! - it rejects bracket nesting deeper than [`MAX_NESTING`], so that neither
//!   pest nor the AST builder can recurse without bound;
//! - it finds unterminated block comments and unclosed delimiters, which pest
//!   would only report as a confusing "unexpected end of file".
//!
//! It only looks at ASCII bytes, so every position it reports is a `char`
//! boundary of the text.

use crate::ast::{FileId, Span};
use crate::diag::Diagnostic;

/// Deepest bracket nesting (`(`, `[`, `{` together) the parser accepts.
pub(crate) const MAX_NESTING: usize = 256;

/// Keywords that start a top-level item.
const ITEM_KEYWORDS: [&str; 7] = ["import", "const", "header", "meta", "parser", "action", "control"];
/// Contextual words that start an item when a space and a name follow them
/// (`table acl {`), but may also be names (`map.x = 1`, `counter += 1`).
const NAMED_ITEM_WORDS: [&str; 7] = ["table", "counter", "map", "meter", "pool", "sketch", "queue"];

/// One top-level piece of the file, parsed on its own when the whole file
/// does not parse.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub start: usize,
    pub end: usize,
    /// The chunk nests brackets deeper than [`MAX_NESTING`]; it is reported
    /// and not handed to pest.
    pub too_deep: bool,
    /// The innermost opening delimiter (position, character) still open at
    /// the end of the chunk.
    pub unclosed: Option<(usize, u8)>,
    /// The chunk was cut short at an unterminated block comment.
    pub truncated: bool,
}

#[derive(Debug)]
pub(crate) struct Scan {
    pub chunks: Vec<Chunk>,
    pub diags: Vec<Diagnostic>,
}

impl Scan {
    /// True when nothing the scan found prevents parsing the file in one go.
    pub fn clean(&self) -> bool {
        self.chunks.iter().all(|c| !c.too_deep && c.unclosed.is_none() && !c.truncated)
    }
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn closer_of(open: u8) -> u8 {
    match open {
        b'(' => b')',
        b'[' => b']',
        _ => b'}',
    }
}

/// If an item keyword starts at `pos` (and, for `meta` and `config`, is
/// followed by `{`; for a contextual word, by a space and a name), return true.
fn item_keyword_at(bytes: &[u8], pos: usize) -> bool {
    let rest = bytes.get(pos..).unwrap_or(&[]);
    let word_at = |kw: &str| {
        let kw = kw.as_bytes();
        let whole = rest.starts_with(kw) && !rest.get(kw.len()).is_some_and(|b| is_ident_byte(*b));
        whole.then(|| rest.get(kw.len()..).unwrap_or(&[]))
    };
    let brace_follows = |after: &[u8]| after.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    ITEM_KEYWORDS.iter().chain(["config"].iter()).any(|kw| match word_at(kw) {
        // `meta.x = 1` is a statement; only `meta {` starts an item.
        Some(after) if matches!(*kw, "meta" | "config") => brace_follows(after),
        Some(_) => true,
        None => false,
    }) || NAMED_ITEM_WORDS.iter().any(|kw| {
        word_at(kw).is_some_and(|after| {
            let name_start = after.iter().position(|b| *b != b' ' && *b != b'\t');
            // A name, or a `{` where the name is missing.
            name_start.is_some_and(|i| i > 0 && after.get(i).is_some_and(|b| b.is_ascii_alphabetic() || b"_{".contains(b)))
        })
    })
}

pub(crate) fn scan(file: FileId, text: &str) -> Scan {
    let bytes = text.as_bytes();
    let mut chunks = Vec::new();
    let mut diags = Vec::new();
    let mut stack: Vec<(usize, u8)> = Vec::new();
    let mut chunk_start = 0usize;
    let mut too_deep = false;
    let mut i = 0usize;
    let mut at_line_start = true;

    while i < bytes.len() {
        if at_line_start {
            at_line_start = false;
            let mut j = i;
            while bytes.get(j).is_some_and(|b| *b == b' ' || *b == b'\t' || *b == b'\r') {
                j += 1;
            }
            let column_zero = j == i;
            if j > chunk_start && (stack.is_empty() || column_zero) && item_keyword_at(bytes, j) {
                chunks.push(Chunk {
                    start: chunk_start,
                    end: j,
                    too_deep,
                    unclosed: stack.last().copied(),
                    truncated: false,
                });
                stack.clear();
                too_deep = false;
                chunk_start = j;
            }
            i = j;
            continue;
        }
        let Some(&b) = bytes.get(i) else { break };
        match b {
            b'\n' => {
                at_line_start = true;
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while bytes.get(i).is_some_and(|b| *b != b'\n') {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let open = i;
                i += 2;
                loop {
                    match bytes.get(i) {
                        None => {
                            diags.push(
                                Diagnostic::error(
                                    "nfl::E0102",
                                    "unterminated block comment",
                                    Span::new(file, open, open + 2),
                                    "this comment is never closed",
                                )
                                .with_help("close the comment with `*/`; block comments do not nest"),
                            );
                            chunks.push(Chunk {
                                start: chunk_start,
                                end: open,
                                too_deep,
                                unclosed: stack.last().copied(),
                                truncated: true,
                            });
                            return Scan { chunks, diags };
                        }
                        Some(b'*') if bytes.get(i + 1) == Some(&b'/') => {
                            i += 2;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            b'(' | b'[' | b'{' => {
                stack.push((i, b));
                if stack.len() > MAX_NESTING && !too_deep {
                    too_deep = true;
                    diags.push(
                        Diagnostic::error(
                            "nfl::E0108",
                            format!("brackets nested more than {MAX_NESTING} deep"),
                            Span::new(file, i, i + 1),
                            "nesting limit exceeded here",
                        )
                        .with_help("split the expression or block into smaller pieces (a `let` or an `action`)"),
                    );
                }
                i += 1;
            }
            b')' | b']' | b'}' => {
                if let Some(depth) = stack.iter().rposition(|(_, open)| closer_of(*open) == b) {
                    stack.truncate(depth);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    chunks.push(Chunk {
        start: chunk_start,
        end: bytes.len(),
        too_deep,
        unclosed: stack.last().copied(),
        truncated: false,
    });
    Scan { chunks, diags }
}

/// For every byte position `i` of `text` (and `text.len()`), the end of the
/// last byte before `i` that is not whitespace or comment.
///
/// pest's implicit whitespace makes a rule that ends with an empty `x*` or
/// `x?` also swallow the whitespace and comments before it; the AST builder
/// trims spans with this table so they end at the last real token.
pub(crate) fn code_ends(text: &str) -> Vec<u32> {
    let bytes = text.as_bytes();
    let mut ends = Vec::with_capacity(bytes.len() + 1);
    let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    let mut last = 0u32;
    ends.push(last);
    let mut i = 0usize;
    while i < bytes.len() {
        let b = bytes.get(i).copied().unwrap_or(b' ');
        let trivia_len = if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
            1
        } else if bytes.get(i..i + 3) == Some("\u{FEFF}".as_bytes()) {
            3
        } else if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
            bytes.get(i..).and_then(|r| r.iter().position(|c| *c == b'\n')).unwrap_or(bytes.len() - i)
        } else if b == b'/' && bytes.get(i + 1) == Some(&b'*') {
            bytes
                .get(i + 2..)
                .and_then(|r| r.windows(2).position(|w| w == b"*/"))
                .map(|p| p + 4)
                .unwrap_or(bytes.len() - i)
        } else {
            0
        };
        if trivia_len == 0 {
            i += 1;
            last = clamp(i);
            ends.push(last);
        } else {
            for _ in 0..trivia_len {
                ends.push(last);
            }
            i += trivia_len;
        }
    }
    ends
}
