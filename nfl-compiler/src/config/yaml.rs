//! YAML text to a small tree of nodes with exact spans, built from the event
//! stream of granit-parser (the parser under serde-saphyr). Scalars keep the
//! text as written (after quote and escape processing), never YAML's typed
//! reading of it, so `0x10`, `1_000` and `10:20` reach the literal parser
//! unchanged.

use std::borrow::Cow;

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::{FileId, Span};
use serde_saphyr::granit_parser::{Event, Marker, Parser, ScalarStyle, ScanError, StructureStyle};

use super::codes;

#[derive(Debug)]
pub(super) enum Node<'a> {
    Scalar(Scalar<'a>),
    Seq {
        items: Vec<Node<'a>>,
        span: Span,
    },
    Map {
        pairs: Vec<(Node<'a>, Node<'a>)>,
        span: Span,
    },
    /// Something already reported (an alias); readers skip it silently.
    Bad(Span),
}

#[derive(Debug)]
pub(super) struct Scalar<'a> {
    pub text: Cow<'a, str>,
    pub span: Span,
    /// A plain `~`, `null` or nothing at all (`key:` with no value). The
    /// span of an empty value is its key's.
    pub null: bool,
}

impl Node<'_> {
    pub(super) fn span(&self) -> Span {
        match self {
            Node::Scalar(s) => s.span,
            Node::Seq { span, .. } | Node::Map { span, .. } | Node::Bad(span) => *span,
        }
    }

    /// How a diagnostic names what was found.
    pub(super) fn kind_name(&self) -> &'static str {
        match self {
            Node::Scalar(s) if s.null => "nothing",
            Node::Scalar(_) => "a single value",
            Node::Seq { .. } => "a list",
            Node::Map { .. } => "a mapping",
            Node::Bad(_) => "an alias",
        }
    }
}

/// A collection being built.
struct Frame<'a> {
    map: bool,
    flow: bool,
    start: usize,
    items: Vec<Node<'a>>,
}

/// Parse `text`. `None` when it is not YAML (reported as E0701). An empty
/// file (or one of only comments) is an empty mapping.
pub(super) fn parse<'a>(file: FileId, text: &'a str, diags: &mut Vec<Diagnostic>) -> Option<Node<'a>> {
    let mut b = Builder { file, stack: Vec::new(), root: None, documents: 0 };
    for event in Parser::new_from_str(text) {
        match event {
            Ok((event, span)) => {
                let range = span.byte_range().unwrap_or(0..0);
                if !b.event(event, range, diags) {
                    break;
                }
            }
            Err(e) => {
                let mut d = syntax_error(file, text, &e);
                // The usual cause: a bracket left open on an earlier line.
                if let Some(open) = b.stack.iter().rev().find(|f| f.flow) {
                    let bracket = if open.map { "{" } else { "[" };
                    d = d.with_label(Span::new(file, open.start, open.start + 1), format!("this `{bracket}` is still open"));
                }
                diags.push(d);
                return None;
            }
        }
    }
    Some(b.root.unwrap_or(Node::Map { pairs: Vec::new(), span: Span::new(file, 0, 0) }))
}

struct Builder<'a> {
    file: FileId,
    stack: Vec<Frame<'a>>,
    root: Option<Node<'a>>,
    documents: u32,
}

impl<'a> Builder<'a> {
    /// Take one event; `false` to stop reading.
    fn event(&mut self, event: Event<'a>, range: std::ops::Range<usize>, diags: &mut Vec<Diagnostic>) -> bool {
        let span = Span::new(self.file, range.start, range.end);
        match event {
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 {
                    diags.push(codes::second_document(span));
                    return false;
                }
            }
            Event::Scalar(text, style, ..) => {
                let null = style == ScalarStyle::Plain && matches!(&*text, "" | "~" | "null" | "Null" | "NULL");
                self.push(Node::Scalar(Scalar { text, span, null }));
            }
            Event::Alias(_) | Event::UnresolvedAlias(_) => {
                diags.push(codes::alias(span));
                self.push(Node::Bad(span));
            }
            Event::SequenceStart(style, ..) => self.open(false, style, range.start),
            Event::MappingStart(style, ..) => self.open(true, style, range.start),
            Event::SequenceEnd | Event::MappingEnd => self.close(range.end),
            _ => {}
        }
        true
    }

    fn open(&mut self, map: bool, style: StructureStyle, start: usize) {
        self.stack.push(Frame { map, flow: style == StructureStyle::Flow, start, items: Vec::new() });
    }

    /// End the innermost collection. A flow collection ends at its closing
    /// bracket (`end`); a block one at its last item, not at the blank
    /// lines and comments after it.
    fn close(&mut self, end: usize) {
        let Some(frame) = self.stack.pop() else { return };
        let last_end = frame.items.last().map_or(frame.start, |n| n.span().end as usize);
        let end = if frame.flow { end.max(last_end) } else { last_end };
        let span = Span::new(self.file, frame.start, end);
        let node = if frame.map { Node::Map { pairs: pairs(frame.items), span } } else { Node::Seq { items: frame.items, span } };
        self.push(node);
    }

    fn push(&mut self, node: Node<'a>) {
        match self.stack.last_mut() {
            Some(frame) => frame.items.push(node),
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
        }
    }
}

/// Pair up a mapping's alternating keys and values. An empty value takes
/// its key's span, so that "no value" points at something visible.
fn pairs(items: Vec<Node<'_>>) -> Vec<(Node<'_>, Node<'_>)> {
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(key), Some(mut value)) = (it.next(), it.next()) {
        if let Node::Scalar(s) = &mut value
            && s.null
            && s.span.is_empty()
        {
            s.span = key.span();
        }
        out.push((key, value));
    }
    out
}

fn syntax_error(file: FileId, text: &str, e: &ScanError) -> Diagnostic {
    let start = byte_offset(text, e.marker());
    let end = text.get(start..).and_then(|rest| rest.chars().next()).map_or(start, |c| start + c.len_utf8());
    codes::syntax(Span::new(file, start, end), e.info())
}

/// The marker's byte offset; from its character index when the parser
/// gives none.
fn byte_offset(text: &str, m: &Marker) -> usize {
    let from_chars = || text.char_indices().nth(m.index()).map_or(text.len(), |(i, _)| i);
    m.byte_offset().filter(|b| text.is_char_boundary(*b)).unwrap_or_else(from_chars)
}
