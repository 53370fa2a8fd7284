//! An entry's `match`: one value per table key, by the key's match kind.
//! Keys are named as in the `.nf` table (whitespace does not matter). An
//! exact key must be given; an omitted lpm key is `/0`, an omitted ternary
//! or range key matches anything.

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::Span;

use super::codes::{self, suggest};
use super::fit::{Norm, ones, prefix_mask};
use super::literal::Form;
use super::reader::{Reader, Target};
use super::schema::{KeyMatch, KeySchema, MatchKind, TableSchema};
use super::yaml::Node;

/// One value per key of `table`, in schema order; `None` if any is wrong.
/// `entry` is the entry's span, used when `match` itself is left out.
pub(super) fn read(r: &mut Reader, table: &TableSchema, node: Option<&Node<'_>>, entry: Span) -> Option<Vec<KeyMatch>> {
    let mut given: Vec<Option<&Node<'_>>> = vec![None; table.keys.len()];
    let mut ok = true;
    let mut at = entry;
    if let Some(node) = node {
        at = node.span();
        let help = "write `match: { KEY: VALUE, ... }` with the table's keys";
        let pairs = r.map(node, "`match`", help)?;
        for k in r.keyed(pairs, |name| table.keys.iter().position(|key| same_name(&key.name, name))) {
            match k.index.and_then(|i| given.get_mut(i)) {
                Some(slot) => *slot = Some(k.value),
                None => {
                    ok = false;
                    let name = k.key.text.trim();
                    let help = unknown_key_help(table, name);
                    let message = format!("table `{}` has no key `{name}`", table.name);
                    r.push(Diagnostic::error(codes::UNKNOWN_KEY, message, k.key.span, "unknown key").with_help(help));
                }
            }
        }
    }
    let read: Vec<Option<KeyMatch>> = table.keys.iter().zip(given).map(|(key, node)| key_match(r, key, node, at)).collect();
    let read: Option<Vec<KeyMatch>> = read.into_iter().collect();
    read.filter(|_| ok)
}

/// Inside `{ }` a comma ends a key, so an unquoted `(a, b)` comes here in
/// two pieces.
fn unknown_key_help(table: &TableSchema, name: &str) -> String {
    let tuple = table.keys.iter().find(|k| k.name.contains(',') && (name.starts_with('(') || name.ends_with(')')));
    match tuple {
        Some(k) => format!("inside `{{ }}` a comma ends a key: quote it, `\"{}\": VALUE`, or write `match:` as a block mapping", k.name),
        None => suggest(name, "table's keys", table.keys.iter().map(|key| key.name.as_str())),
    }
}

/// Equal but for whitespace: `(a, b)` is `(a,b)`.
fn same_name(a: &str, b: &str) -> bool {
    let strip = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    strip(a) == strip(b)
}

fn key_match(r: &mut Reader, key: &KeySchema, node: Option<&Node<'_>>, at: Span) -> Option<KeyMatch> {
    let (kind, accepts, omitted): (&str, &'static [Form], _) = match key.kind {
        MatchKind::Exact => ("exact", &[Form::Value], None),
        MatchKind::Lpm => ("lpm", &[Form::Value, Form::Prefix, Form::Any], Some(KeyMatch::Prefix { value: 0, len: 0 })),
        MatchKind::Ternary => ("ternary", &[Form::Value, Form::Prefix, Form::Ternary, Form::Any], Some(KeyMatch::Any)),
        MatchKind::Range => ("range", &[Form::Value, Form::Range, Form::Any], Some(KeyMatch::Any)),
    };
    let Some(node) = node else {
        if omitted.is_none() {
            let message = format!("the entry gives no value for exact key `{}`", key.name);
            let d = Diagnostic::error(codes::MISSING_KEY, message, at, format!("`{}` is missing", key.name));
            r.push(d.with_help(format!("add `{}: VALUE`; an exact key cannot be left out", key.name)));
        }
        return omitted;
    };
    let what = format!("{kind} key `{}` (u{})", key.name, key.width);
    let norm = r.literal(node, &Target { what: &what, width: key.width, accepts })?;
    let w = key.width;
    Some(match (key.kind, norm) {
        (MatchKind::Lpm, Norm::Any) => KeyMatch::Prefix { value: 0, len: 0 },
        (_, Norm::Any) => KeyMatch::Any,
        (MatchKind::Exact, Norm::Value(v)) => KeyMatch::Exact(v),
        (MatchKind::Lpm, Norm::Value(v)) => KeyMatch::Prefix { value: v, len: w },
        (MatchKind::Ternary, Norm::Value(v)) => KeyMatch::Ternary { value: v, mask: ones(w) },
        (MatchKind::Range, Norm::Value(v)) => KeyMatch::Range { lo: v, hi: v },
        (MatchKind::Ternary, Norm::Prefix { value, len }) => KeyMatch::Ternary { value, mask: prefix_mask(w, len) },
        (_, Norm::Prefix { value, len }) => KeyMatch::Prefix { value, len },
        (_, Norm::Ternary { value, mask }) => KeyMatch::Ternary { value, mask },
        (_, Norm::Range { lo, hi }) => KeyMatch::Range { lo, hi },
        (_, Norm::Bool(_)) => return None,
    })
}
