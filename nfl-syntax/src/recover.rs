//! Recovery inside one item: find the element (statement, field, state,
//! select case) that holds a syntax error, so the parser can blank it out
//! and parse the item again.
//!
//! This works on a small lexical view of the item's text, not on the pest
//! tree (a failed parse leaves none). Every `{` that is not the set of an
//! `in` pattern (`x in {1, 2}`) or of a config default (`= {1, 2}`) opens a
//! *list*: an item body, a block, a parser body, a state body, a `select`
//! case list, a field list, a config block, a table body or a table section. The
//! elements of a list end at a `;` or `,` at the list's own depth, at the
//! list's closing `}`, or at a newline at the list's depth, unless the line
//! plainly goes on: the last token before the newline or the first token
//! after it is an operator, `:`, `.`, `{` or a keyword that needs more
//! (`let`, `if`, `else`, `in`, `as`, ...). That keeps a multi-line
//! expression or an `if ... {} \n else {}` chain in one element.
//!
//! Only items whose brackets are balanced are recovered: with an unclosed or
//! stray bracket the lists cannot be told apart, and the single error pest
//! reports (often `E0102`) is the useful one.

use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Identifier, keyword or number: `[A-Za-z0-9_]+`.
    Word,
    /// One ASCII punctuation byte.
    Punct(u8),
    /// A run of non-ASCII bytes (whole characters).
    Other,
}

#[derive(Clone, Copy, Debug)]
struct Tok {
    start: usize,
    end: usize,
    kind: Kind,
    /// A newline (or a comment holding one) separates it from the previous token.
    newline_before: bool,
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

const BOM: &[u8] = "\u{FEFF}".as_bytes();

/// Split `text` into tokens, skipping whitespace and comments. An
/// unterminated block comment runs to the end.
fn lex(text: &str) -> Vec<Tok> {
    let bytes = text.as_bytes();
    let mut toks = Vec::new();
    let mut newline = false;
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        let start = i;
        match b {
            b'\n' => {
                newline = true;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = bytes.get(i..).and_then(|r| r.iter().position(|c| *c == b'\n')).map_or(bytes.len(), |p| i + p);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let body = bytes.get(i + 2..).unwrap_or(&[]);
                let len = body.windows(2).position(|w| w == b"*/").map_or(body.len(), |p| p + 2);
                newline |= body.get(..len).is_some_and(|c| c.contains(&b'\n'));
                i += 2 + len;
                continue;
            }
            _ if bytes.get(i..i + BOM.len()) == Some(BOM) => {
                i += BOM.len();
                continue;
            }
            _ if is_ident_byte(b) => {
                while bytes.get(i).is_some_and(|c| is_ident_byte(*c)) {
                    i += 1;
                }
                toks.push(Tok { start, end: i, kind: Kind::Word, newline_before: newline });
            }
            _ if !b.is_ascii() => {
                while bytes.get(i).is_some_and(|c| !c.is_ascii()) {
                    i += 1;
                }
                toks.push(Tok { start, end: i, kind: Kind::Other, newline_before: newline });
            }
            _ => {
                i += 1;
                toks.push(Tok { start, end: i, kind: Kind::Punct(b), newline_before: newline });
            }
        }
        newline = false;
    }
    toks
}

fn closer_of(open: u8) -> u8 {
    match open {
        b'(' => b')',
        b'[' => b']',
        _ => b'}',
    }
}

/// Every bracket is closed by the matching one, in order.
fn balanced(toks: &[Tok]) -> bool {
    let mut stack = Vec::new();
    for t in toks {
        match t.kind {
            Kind::Punct(o @ (b'{' | b'(' | b'[')) => stack.push(closer_of(o)),
            Kind::Punct(c @ (b'}' | b')' | b']')) if stack.pop() != Some(c) => return false,
            _ => {}
        }
    }
    stack.is_empty()
}

/// Keywords after which a statement, field or case cannot end.
const NEEDS_MORE: [&str; 11] = ["in", "as", "let", "if", "else", "redirect", "extract", "skip", "select", "goto", "state"];
/// Keywords that cannot start an element, only continue one.
const CONTINUES: [&str; 3] = ["else", "in", "as"];

fn word<'t>(text: &'t str, t: &Tok) -> &'t str {
    if t.kind == Kind::Word { text.get(t.start..t.end).unwrap_or("") } else { "" }
}

/// The line cannot end after `toks[i]`. The `>` of a type such as
/// `set<u32>` ends a line like a name.
fn continues_after(text: &str, toks: &[Tok], i: usize) -> bool {
    let Some(t) = toks.get(i) else { return false };
    let closes_type = t.kind == Kind::Punct(b'>')
        && i.checked_sub(1).and_then(|j| toks.get(j)).is_some_and(|w| w.kind == Kind::Word)
        && i.checked_sub(2).and_then(|j| toks.get(j)).is_some_and(|o| o.kind == Kind::Punct(b'<'));
    if closes_type {
        return false;
    }
    match t.kind {
        Kind::Punct(b) => b"+-*/%&|^!~<>=.:".contains(&b),
        Kind::Word => NEEDS_MORE.contains(&word(text, t)),
        Kind::Other => false,
    }
}

/// A line starting with `t` continues the previous one.
fn continues_before(text: &str, t: &Tok) -> bool {
    match t.kind {
        Kind::Punct(b) => b"+-*/%&|^!~<>=.:{[".contains(&b),
        Kind::Word => CONTINUES.contains(&word(text, t)),
        Kind::Other => false,
    }
}

/// One open bracket while scanning.
struct Level {
    open: u8,
    /// A `{` that is a list (not the set of an `in` pattern).
    list: bool,
    /// Where the current element of this level starts, once it has a token.
    elem_start: Option<usize>,
    /// The previous element of this level.
    last: Option<Range<usize>>,
}

impl Level {
    /// The current element ended with the token that ends at `end`.
    fn end_element(&mut self, end: usize) {
        if let Some(start) = self.elem_start.take() {
            self.last = Some(start..end);
        }
    }
}

/// What [`broken_element`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// Blank this range and parse again.
    Element(Range<usize>),
    /// The same, for an element that ends before the error: it is
    /// incomplete, and the error shows at the token after it.
    Incomplete(Range<usize>),
    /// The error cannot be skipped: the item's brackets do not balance, or
    /// the error is outside every list (in an item's head, or after it).
    /// Blanking only ever removes whole elements, so an item that was
    /// balanced stays balanced.
    Stuck,
}

/// The byte range of the list element of `text` that holds the error at
/// `pos`: from the element's first token to the end of its last one.
///
/// An error at the first token of a line is about that line when pest
/// would also have accepted the end of the list there (`expects_close`: the
/// line before was complete, as in `accept` followed by `extract h`);
/// otherwise the line before needed more (`x` followed by `y = 1` on the
/// next line wants `=` after `x`) and that line is the broken element.
pub(crate) fn broken_element(text: &str, pos: usize, expects_close: bool) -> Found {
    let toks = lex(text);
    if !balanced(&toks) {
        return Found::Stuck;
    }
    let mut stack: Vec<Level> = Vec::new();
    let mut prev: Option<Tok> = None;
    // (index of the list level, start of the broken element)
    let mut found: Option<(usize, usize)> = None;
    for (i, t) in toks.iter().enumerate() {
        let at_list = |stack: &Vec<Level>| stack.last().is_some_and(|l| l.list);
        let newline_ends = t.newline_before
            && at_list(&stack)
            && i.checked_sub(1).is_some_and(|p| !continues_after(text, &toks, p))
            && !continues_before(text, t);
        if newline_ends
            && let (Some(top), Some(p)) = (stack.last_mut(), prev)
        {
            top.end_element(p.end);
        }
        let ends_list_element = matches!(t.kind, Kind::Punct(b'}' | b';' | b','));
        let closes = t.kind == Kind::Punct(b'}');
        match found {
            Some((level, start)) if stack.len() == level + 1 && (newline_ends || ends_list_element) => {
                return element(start, prev.map_or(t.start, |p| p.end));
            }
            Some(_) => {}
            None if t.end > pos => {
                let Some(level) = stack.iter().rposition(|l| l.list) else { return Found::Stuck };
                let at_level = stack.len() == level + 1;
                let Some(list) = stack.get(level) else { return Found::Stuck };
                let start = match list.elem_start {
                    Some(s) => s,
                    None if at_level && (closes || (newline_ends && !expects_close)) => {
                        // The element before this token is the incomplete one.
                        return match &list.last {
                            Some(r) if r.start < r.end => Found::Incomplete(r.clone()),
                            _ => Found::Stuck,
                        };
                    }
                    None => t.start,
                };
                if at_level && closes {
                    return element(start, prev.map_or(t.start, |p| p.end));
                }
                // An unexpected `,` or `;` is no separator: the element goes
                // on past it (`a: , u8` is one broken field, not two).
                found = Some((level, start));
            }
            None => {}
        }
        match t.kind {
            Kind::Punct(open @ (b'{' | b'(' | b'[')) => {
                if let Some(top) = stack.last_mut() {
                    top.elem_start.get_or_insert(t.start);
                }
                // The set of an `in` pattern or of a config default (`= {...}`).
                let pattern_set =
                    open == b'{' && prev.is_some_and(|p| word(text, &p) == "in" || p.kind == Kind::Punct(b'='));
                stack.push(Level { open, list: open == b'{' && !pattern_set, elem_start: None, last: None });
            }
            Kind::Punct(b'}' | b')' | b']') => {
                stack.pop();
            }
            Kind::Punct(b';' | b',') => {
                if let (Some(top), Some(p)) = (stack.last_mut(), prev)
                    && top.open == b'{'
                {
                    top.end_element(p.end);
                }
            }
            _ => {
                if let Some(top) = stack.last_mut() {
                    top.elem_start.get_or_insert(t.start);
                }
            }
        }
        prev = Some(*t);
    }
    match found {
        Some((_, start)) => element(start, prev.map_or(text.len(), |p| p.end)),
        None => Found::Stuck,
    }
}

fn element(start: usize, end: usize) -> Found {
    if start < end { Found::Element(start..end) } else { Found::Stuck }
}

/// `text` with `range` replaced by spaces (newlines kept), so every other
/// byte keeps its position. `None` if `range` is not on char boundaries.
pub(crate) fn blank(text: &str, range: Range<usize>) -> Option<String> {
    let piece = text.get(range.clone())?;
    let spaces: String = piece.bytes().map(|b| if b == b'\n' { '\n' } else { ' ' }).collect();
    let mut out = String::with_capacity(text.len());
    out.push_str(text.get(..range.start)?);
    out.push_str(&spaces);
    out.push_str(text.get(range.end..)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of the element holding the first occurrence of `at`.
    fn elem(text: &str, at: &str) -> Option<String> {
        elem_with(text, at, true)
    }

    fn elem_with(text: &str, at: &str, expects_close: bool) -> Option<String> {
        let pos = text.find(at).expect("marker");
        match broken_element(text, pos, expects_close) {
            Found::Element(r) | Found::Incomplete(r) => Some(text[r].to_string()),
            Found::Stuck => None,
        }
    }

    #[test]
    fn statements_end_at_newlines_and_separators() {
        let t = "control c(xdp) {\n    x = 1\n    y == 2\n    z = 3; w == 4; v = 5\n}";
        assert_eq!(elem(t, "==").as_deref(), Some("y == 2"));
        assert_eq!(elem(t, "== 4").as_deref(), Some("w == 4"));
    }

    #[test]
    fn lines_that_go_on_stay_together() {
        let t = "control c(xdp) {\n    let x = a +\n        * b\n    y = 1\n}";
        assert_eq!(elem(t, "*").as_deref(), Some("let x = a +\n        * b"));
        let t = "control c(xdp) {\n    if a b {\n        drop\n    }\n    else { pass }\n    y = 1\n}";
        assert_eq!(elem(t, "b {").as_deref(), Some("if a b {\n        drop\n    }\n    else { pass }"));
        let t = "control c(xdp) {\n    foo(a,\n        b c)\n    y = 1\n}";
        assert_eq!(elem(t, "c)").as_deref(), Some("foo(a,\n        b c)"));
    }

    #[test]
    fn nested_lists_and_pattern_sets() {
        let t = "control c(xdp) {\n    if a {\n        x == 1\n    }\n}";
        assert_eq!(elem(t, "==").as_deref(), Some("x == 1"));
        let t = "control c(xdp) { if x in {1, 2 +} { drop } }";
        assert_eq!(elem(t, "+").as_deref(), Some("if x in {1, 2 +} { drop }"));
        let t = "parser p { state s { select x { 1: a, 2 b, 3: c } } }";
        assert_eq!(elem(t, "b,").as_deref(), Some("2 b"));
        let t = "header h { a: u8, b u8, c: u8 }";
        assert_eq!(elem(t, "u8,").as_deref(), Some("a: u8"));
        let t = "header h {\n    a: , u8\n    b: u8, c: u8\n}";
        assert_eq!(elem(t, ",").as_deref(), Some("a: , u8"));
        assert_eq!(elem(t, ", c").as_deref(), Some("b: u8, c: u8"));
    }

    #[test]
    fn config_defaults_and_set_types() {
        // A default set is one element with its parameter, like an `in` set.
        let t = "config {\n    a: set<u32> = {1, 2 +}\n    b: u8\n}";
        assert_eq!(elem(t, "+").as_deref(), Some("a: set<u32> = {1, 2 +}"));
        // `>` closing a type ends the line like a name would.
        let t = "config {\n    a: set<u32>\n    b u8\n}";
        assert_eq!(elem(t, "u8").as_deref(), Some("b u8"));
        // A table's sections, keys and entries are elements of their lists.
        let t = "table t {\n    size 1 2\n    key {\n        a exact\n        b: lpm\n    }\n}";
        assert_eq!(elem(t, "2").as_deref(), Some("size 1 2"));
        assert_eq!(elem(t, "exact").as_deref(), Some("a exact"));
    }

    #[test]
    fn an_error_at_a_line_start_may_belong_to_the_line_before() {
        let t = "control c(xdp) {\n    drop\n    x\n    y = 1\n}";
        assert_eq!(elem_with(t, "y", false).as_deref(), Some("x"));
        assert_eq!(broken_element(t, t.find('y').unwrap_or(0), false), Found::Incomplete(30..31));
        assert_eq!(elem_with(t, "y", true).as_deref(), Some("y = 1"));
        let t = "parser p { state s {\n    accept\n    extract h\n} }";
        assert_eq!(elem_with(t, "extract", true).as_deref(), Some("extract h"));
        let t = "control c(xdp) {\n    x\n}";
        assert_eq!(elem_with(t, "}", false).as_deref(), Some("x"));
        let t = "control c(xdp) {\n    y = 1\n}";
        assert_eq!(elem_with(t, "y", false), None);
    }

    #[test]
    fn errors_at_a_closing_brace() {
        let t = "control c(xdp) { let x = }";
        assert_eq!(elem(t, "}").as_deref(), Some("let x ="));
        let t = "control c(xdp) { }";
        assert_eq!(elem(t, "}"), None);
    }

    #[test]
    fn stuck_outside_lists_or_when_unbalanced() {
        assert_eq!(elem("action a(n u8) { pass }", "u8"), None);
        assert_eq!(elem("control c(xdp) { pass } junk", "junk"), None);
        assert_eq!(elem("control c(xdp) { if a { x == 1 }", "=="), None);
        assert_eq!(elem("control c(xdp) { foo(a }", "}"), None);
    }

    #[test]
    fn blanking_keeps_positions() {
        let t = "a é\nb";
        assert_eq!(blank(t, 0..4).as_deref(), Some("    \nb"));
        assert_eq!(blank(t, 0..3), None);
    }
}
