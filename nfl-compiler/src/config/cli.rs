//! A table entry given on a command line (`nflc table add fw acl --match
//! ipv4.src=198.18.0.0/16 --action mark --arg port=7`), read exactly as the
//! YAML reader reads an entry: the same literal forms, the same checks and
//! the same E07xx diagnostics, with spans into the command-line text the
//! caller added to its `SourceMap`.

use std::borrow::Cow;

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::Span;

use super::codes::{self, suggest};
use super::reader::Reader;
use super::schema::{KeyMatch, TableSchema};
use super::yaml::{Node, Scalar};

/// A piece of the command line: its text and where it is.
#[derive(Clone, Copy, Debug)]
pub struct Piece<'a> {
    pub text: &'a str,
    pub span: Span,
}

/// An entry as given: `KEY=VALUE` pairs, the action, and its arguments,
/// each either named (`PARAM=VALUE`) or positional (`VALUE`).
#[derive(Clone, Debug)]
pub struct CliEntry<'a> {
    pub matches: Vec<(Piece<'a>, Piece<'a>)>,
    pub action: Option<Piece<'a>>,
    pub args: Vec<(Option<Piece<'a>>, Piece<'a>)>,
    /// The whole command line, blamed for what is missing.
    pub at: Span,
}

/// What [`read_entry`] made of a [`CliEntry`]; `None` parts were wrong or absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CliEntryValue {
    /// One per key, in schema order.
    pub matches: Option<Vec<KeyMatch>>,
    /// The action and one argument per parameter, in schema order.
    pub action: Option<(String, Vec<u64>)>,
}

fn scalar<'a>(p: &Piece<'a>) -> Node<'a> {
    Node::Scalar(Scalar { text: Cow::Borrowed(p.text), span: p.span, null: false })
}

fn around(pieces: impl Iterator<Item = Span>, fallback: Span) -> Span {
    pieces.fold(None, |acc: Option<Span>, s| Some(acc.map_or(s, |a| Span { start: a.start.min(s.start), end: a.end.max(s.end), ..a })))
        .unwrap_or(fallback)
}

/// Read `entry` for `table`. Every independent error is reported.
pub fn read_entry(table: &TableSchema, entry: &CliEntry<'_>) -> (CliEntryValue, Vec<Diagnostic>) {
    let mut r = Reader::default();
    let pairs: Vec<(Node<'_>, Node<'_>)> = entry.matches.iter().map(|(k, v)| (scalar(k), scalar(v))).collect();
    let span = around(entry.matches.iter().map(|(k, v)| Span { end: v.span.end, ..k.span }), entry.at);
    let node = Node::Map { pairs, span };
    let matches = super::keys::read(&mut r, table, Some(&node), entry.at);
    let action = entry.action.as_ref().and_then(|a| action(&mut r, table, entry, a));
    (CliEntryValue { matches, action }, r.diags)
}

fn action(r: &mut Reader, table: &TableSchema, entry: &CliEntry<'_>, a: &Piece<'_>) -> Option<(String, Vec<u64>)> {
    let name = a.text.trim();
    let Some(schema) = table.actions.iter().find(|x| x.name == name) else {
        let help = suggest(name, "table's actions", table.actions.iter().map(|x| x.name.as_str()));
        let message = format!("table `{}` has no action `{name}`", table.name);
        r.push(Diagnostic::error(codes::UNKNOWN_ACTION, message, a.span, "unknown action").with_help(help));
        return None;
    };
    let span = around(entry.args.iter().map(|(n, v)| n.map_or(v.span, |n| Span { end: v.span.end, ..n.span })), a.span);
    let named = entry.args.iter().filter(|(n, _)| n.is_some()).count();
    let node = if entry.args.is_empty() {
        None
    } else if named == entry.args.len() {
        let pairs = entry.args.iter().filter_map(|(n, v)| Some((scalar(n.as_ref()?), scalar(v)))).collect();
        Some(Node::Map { pairs, span })
    } else if named == 0 {
        Some(Node::Seq { items: entry.args.iter().map(|(_, v)| scalar(v)).collect(), span })
    } else {
        let message = "the arguments mix `PARAM=VALUE` and plain values";
        let d = Diagnostic::error(codes::ARITY, message, span, "give all by name or all in parameter order");
        r.push(d.with_help("write every argument as `--arg PARAM=VALUE`, or every one as `--arg VALUE` in parameter order"));
        return None;
    };
    let args = super::args::read(r, schema, a.span, node.as_ref())?;
    Some((schema.name.clone(), args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ActionSchema, KeySchema, MatchKind};
    use nfl_syntax::ast::FileId;

    fn table() -> TableSchema {
        TableSchema {
            name: "acl".into(),
            keys: vec![
                KeySchema { name: "ipv4.src".into(), width: 32, kind: MatchKind::Ternary },
                KeySchema { name: "ipv4.protocol".into(), width: 8, kind: MatchKind::Exact },
            ],
            actions: vec![ActionSchema { name: "mark".into(), params: vec![("port".into(), 16)] }],
        }
    }

    /// Pieces of `line` split on spaces, then on the first `=`.
    fn entry(line: &str) -> CliEntry<'_> {
        let file = FileId(0);
        let mut e = CliEntry { matches: Vec::new(), action: None, args: Vec::new(), at: Span::new(file, 0, line.len()) };
        let mut at = 0;
        for word in line.split(' ') {
            let (k, v) = word.split_once('=').unwrap_or(("", word));
            let kp = Piece { text: k, span: Span::new(file, at, at + k.len()) };
            let vs = at + word.len() - v.len();
            let vp = Piece { text: v, span: Span::new(file, vs, vs + v.len()) };
            match k {
                "action" => e.action = Some(vp),
                "" => e.args.push((None, vp)),
                _ if k.starts_with("arg:") => e.args.push((Some(Piece { text: &k[4..], span: kp.span }), vp)),
                _ => e.matches.push((kp, vp)),
            }
            at += word.len() + 1;
        }
        e
    }

    #[test]
    fn an_entry_reads_as_in_yaml() {
        let (v, d) = read_entry(&table(), &entry("ipv4.src=198.18.0.0/16 ipv4.protocol=17 action=mark arg:port=7"));
        assert!(d.is_empty(), "{d:?}");
        let m = v.matches.expect("matches");
        assert_eq!(m, vec![KeyMatch::Ternary { value: 0xc612_0000, mask: 0xffff_0000 }, KeyMatch::Exact(17)]);
        assert_eq!(v.action, Some(("mark".into(), vec![7])));
        let (v, d) = read_entry(&table(), &entry("ipv4.protocol=6 action=mark 9"));
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(v.action, Some(("mark".into(), vec![9])));
    }

    #[test]
    fn mistakes_have_the_yaml_codes() {
        let code = |line: &str| read_entry(&table(), &entry(line)).1.iter().map(|d| d.code).collect::<Vec<_>>();
        assert_eq!(code("ipv4.srcc=1 ipv4.protocol=6"), vec![codes::UNKNOWN_KEY]);
        assert_eq!(code("ipv4.src=1.2.3.4"), vec![codes::MISSING_KEY]);
        assert_eq!(code("ipv4.protocol=256"), vec![codes::FIT]);
        assert_eq!(code("ipv4.protocol=6 action=drop"), vec![codes::UNKNOWN_ACTION]);
        assert_eq!(code("ipv4.protocol=6 action=mark"), vec![codes::ARITY]);
        assert_eq!(code("ipv4.protocol=6 action=mark 1 2"), vec![codes::ARITY]);
        assert_eq!(code("ipv4.protocol=6 action=mark arg:port=1 2"), vec![codes::ARITY]);
        assert_eq!(code("ipv4.protocol=6 action=mark arg:prt=1"), vec![codes::UNKNOWN_ARG, codes::ARITY]);
    }
}
