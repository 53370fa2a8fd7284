//! The reader's state (the diagnostics so far) and its checks of YAML
//! shape: a mapping, a list or a single value where one is expected, keys
//! looked up with duplicates refused, and literals read for a target.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::Span;

use super::codes::{self, Issue};
use super::fit::{Norm, fit};
use super::literal::{Form, Lit, parse};
use super::yaml::{Node, Scalar};

#[derive(Default)]
pub(super) struct Reader {
    pub diags: Vec<Diagnostic>,
}

/// A mapping entry whose key was looked up: `index` is `None` for an
/// unknown key (the caller reports it with its own code).
pub(super) struct Keyed<'n, 'a> {
    pub key: &'n Scalar<'a>,
    pub index: Option<usize>,
    pub value: &'n Node<'a>,
}

/// What a literal is given to: `what` names it in messages ("exact key
/// `ipv4.protocol` (u8)"), `accepts` lists the forms it takes.
pub(super) struct Target<'t> {
    pub what: &'t str,
    pub width: u32,
    pub accepts: &'static [Form],
}

type Pairs<'n, 'a> = &'n [(Node<'a>, Node<'a>)];

impl Reader {
    pub(super) fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn wrong_kind(&mut self, node: &Node<'_>, what: &str, expected: &str, help: &str) {
        if let Node::Bad(_) = node {
            return;
        }
        let found = node.kind_name();
        let message = format!("{what} must be {expected}, not {found}");
        self.push(Diagnostic::error(codes::KIND, message, node.span(), found).with_help(help));
    }

    /// The pairs of a mapping; nothing (`key:` alone, `~`) is an empty one.
    pub(super) fn map<'n, 'a>(&mut self, node: &'n Node<'a>, what: &str, help: &str) -> Option<Pairs<'n, 'a>> {
        match node {
            Node::Map { pairs, .. } => Some(pairs),
            Node::Scalar(s) if s.null => Some(&[]),
            _ => {
                self.wrong_kind(node, what, "a mapping", help);
                None
            }
        }
    }

    /// The items of a list; nothing is an empty one.
    pub(super) fn seq<'n, 'a>(&mut self, node: &'n Node<'a>, what: &str, help: &str) -> Option<&'n [Node<'a>]> {
        match node {
            Node::Seq { items, .. } => Some(items),
            Node::Scalar(s) if s.null => Some(&[]),
            _ => {
                self.wrong_kind(node, what, "a list", help);
                None
            }
        }
    }

    pub(super) fn scalar<'n, 'a>(&mut self, node: &'n Node<'a>, what: &str, help: &str) -> Option<&'n Scalar<'a>> {
        match node {
            Node::Scalar(s) => Some(s),
            _ => {
                self.wrong_kind(node, what, "a single value", help);
                None
            }
        }
    }

    /// Look each key up with `find`, refusing keys given twice (E0704) and
    /// keys that are not single values (E0703).
    pub(super) fn keyed<'n, 'a>(&mut self, pairs: Pairs<'n, 'a>, mut find: impl FnMut(&str) -> Option<usize>) -> Vec<Keyed<'n, 'a>> {
        let mut out: Vec<Keyed<'n, 'a>> = Vec::new();
        // Where each key was first given: by index when known, else by text.
        let mut first: HashMap<Result<usize, &'n str>, Span> = HashMap::new();
        for (k, value) in pairs {
            let Some(key) = self.scalar(k, "a key", "keys are names such as `rate_pps` or `ipv4.src`") else { continue };
            let index = find(&key.text);
            match first.entry(index.ok_or(&*key.text)) {
                Entry::Occupied(seen) => {
                    let message = format!("`{}` is given twice", key.text.trim());
                    let d = Diagnostic::error(codes::DUPLICATE, message, key.span, "given again here")
                        .with_label(*seen.get(), "first given here")
                        .with_help("remove one; the second does not override the first");
                    self.push(d);
                }
                Entry::Vacant(slot) => {
                    slot.insert(key.span);
                    out.push(Keyed { key, index, value });
                }
            }
        }
        out
    }

    /// Read a single-value node as a literal for `t`.
    pub(super) fn literal(&mut self, node: &Node<'_>, t: &Target<'_>) -> Option<Norm> {
        let help = format!("{} takes {}", t.what, accepted(t.accepts));
        let s = self.scalar(node, t.what, &help)?;
        let parsed = if s.null { Err(None) } else { parse(&s.text).map_err(Some) };
        let wants_bool = t.accepts == [Form::Bool];
        let lit = match parsed {
            Ok(lit) if t.accepts.contains(&lit.form()) => lit,
            Err(Some(issue)) if !wants_bool => return self.issue(issue, s.span),
            other => return self.issue(wrong_form(&other, wants_bool, t.what, help), s.span),
        };
        fit(&lit, t.width, t.what).map_err(|i| self.push(i.at(s.span))).ok()
    }

    /// Read a single value for a `width`-bit (at most 64) target.
    pub(super) fn uint(&mut self, node: &Node<'_>, what: &str, width: u32) -> Option<u64> {
        match self.literal(node, &Target { what, width, accepts: &[Form::Value] })? {
            Norm::Value(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    fn issue<T>(&mut self, issue: Issue, span: Span) -> Option<T> {
        self.push(issue.at(span));
        None
    }
}

fn wrong_form(parsed: &Result<Lit, Option<Issue>>, wants_bool: bool, what: &str, help: String) -> Issue {
    let (message, label) = match parsed {
        Err(None) => (format!("{what} has no value"), "no value"),
        Ok(lit) if !wants_bool => (format!("{what} does not take {}", form_name(lit.form())), form_name(lit.form())),
        _ => (format!("{what} takes `true` or `false`"), "not `true` or `false`"),
    };
    Issue::new(codes::FORM, message, label, help)
}

fn form_name(form: Form) -> &'static str {
    match form {
        Form::Value => "a single value",
        Form::Prefix => "a prefix",
        Form::Range => "a range",
        Form::Ternary => "a mask (`&&&`)",
        Form::Any => "the wildcard",
        Form::Bool => "`true` or `false`",
    }
}

/// "a value such as `6`, a prefix such as `198.18.0.0/15` or `_`".
fn accepted(forms: &[Form]) -> String {
    let each: Vec<&str> = forms
        .iter()
        .map(|f| match f {
            Form::Value => "a value such as `6`, `0x0800` or `198.18.0.1`",
            Form::Prefix => "a prefix such as `198.18.0.0/15`",
            Form::Range => "a range such as `80..=90` or `80..91`",
            Form::Ternary => "a mask such as `0x0800 &&& 0xff00`",
            Form::Any => "`_` (any)",
            Form::Bool => "`true` or `false`",
        })
        .collect();
    match each.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{}, or {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_string(),
        None => "nothing".to_string(),
    }
}
