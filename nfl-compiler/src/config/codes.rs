//! The E07xx codes (documented in `docs/diagnostics-config.md`) and the
//! diagnostics that need no reader state.

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::Span;

pub(super) const SYNTAX: &str = "nfl::E0701";
pub(super) const UNSUPPORTED: &str = "nfl::E0702";
pub(super) const KIND: &str = "nfl::E0703";
pub(super) const DUPLICATE: &str = "nfl::E0704";
pub(super) const UNKNOWN_PARAM: &str = "nfl::E0705";
pub(super) const MISSING_PARAM: &str = "nfl::E0706";
pub(super) const UNKNOWN_TABLE: &str = "nfl::E0707";
pub(super) const UNKNOWN_FIELD: &str = "nfl::E0708";
pub(super) const NO_ACTION: &str = "nfl::E0709";
pub(super) const UNKNOWN_ACTION: &str = "nfl::E0710";
pub(super) const UNKNOWN_KEY: &str = "nfl::E0711";
pub(super) const MISSING_KEY: &str = "nfl::E0712";
pub(super) const ARITY: &str = "nfl::E0713";
pub(super) const UNKNOWN_ARG: &str = "nfl::E0714";
pub(super) const MALFORMED: &str = "nfl::E0715";
pub(super) const FORM: &str = "nfl::E0716";
pub(super) const FIT: &str = "nfl::E0717";
pub(super) const PREFIX_LEN: &str = "nfl::E0718";
pub(super) const EMPTY_RANGE: &str = "nfl::E0719";
pub(super) const MASK: &str = "nfl::E0720";
pub(super) const UNKNOWN_POOL: &str = "nfl::E0721";

pub(super) const FORMS_HELP: &str = "write a number (`1500`, `0x0800`, `0b1010`), an address (`198.18.0.1`, `2001:db8::1`, \
     `02:00:00:00:00:01`), a prefix (`198.18.0.0/15`), a range (`80..=90`, `80..91`), a mask (`0x0800 &&& 0xff00`) or `_`";

/// A problem with one scalar, before it is placed: the caller knows the span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Issue {
    pub code: &'static str,
    pub message: String,
    pub label: String,
    pub help: String,
}

impl Issue {
    pub(super) fn new(code: &'static str, message: impl Into<String>, label: impl Into<String>, help: impl Into<String>) -> Issue {
        Issue { code, message: message.into(), label: label.into(), help: help.into() }
    }

    pub(super) fn at(self, span: Span) -> Diagnostic {
        Diagnostic::error(self.code, self.message, span, self.label).with_help(self.help)
    }
}

pub(super) fn malformed(message: String, help: &str) -> Issue {
    Issue::new(MALFORMED, message, "not a literal nflc understands", help)
}

pub(super) fn syntax(span: Span, info: String) -> Diagnostic {
    let label = if info.is_empty() { "here".to_string() } else { info.clone() };
    Diagnostic::error(SYNTAX, format!("the config file is not valid YAML: {info}"), span, label)
        .with_help("check the indentation and the brackets; quote a value that starts with `*`, `&`, `!`, `@`, `%` or contains `: ` or `#`")
}

pub(super) fn alias(span: Span) -> Diagnostic {
    Diagnostic::error(UNSUPPORTED, "YAML aliases are not supported in config files", span, "alias")
        .with_help("write the value out in full (anchors `&name` are ignored, aliases `*name` refused)")
}

pub(super) fn second_document(span: Span) -> Diagnostic {
    Diagnostic::error(UNSUPPORTED, "a config file holds one YAML document", span, "a second document starts here")
        .with_help("remove the `---` and merge the documents, or split them into separate files")
}

/// `did you mean `x`?` for the [`closest`] candidate, or the list of them.
pub(super) fn suggest<'c>(name: &str, what: &str, candidates: impl IntoIterator<Item = &'c str> + Clone) -> String {
    if let Some(close) = closest(name, candidates.clone()) {
        return format!("did you mean `{close}`?");
    }
    let all: Vec<String> = candidates.into_iter().map(|c| format!("`{c}`")).collect();
    if all.is_empty() { format!("there are no {what}") } else { format!("the {what} are {}", all.join(", ")) }
}

/// The candidate `name` is probably a typo of.
pub(super) fn closest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str> + Clone) -> Option<&'c str> {
    crate::check::closest(name, candidates.clone()).or_else(|| candidates.into_iter().find(|c| swapped(name, c)))
}

/// `a` is `b` with two neighbouring characters swapped (`dney`, `deny`).
fn swapped(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let differ: Vec<usize> = (0..a.len()).filter(|&i| a.get(i) != b.get(i)).collect();
    match differ[..] {
        [i, j] => a.len() == b.len() && j == i + 1 && a.get(i) == b.get(j) && a.get(j) == b.get(i),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("dney", "actions", ["set_mark", "deny"]), "did you mean `deny`?");
        assert_eq!(suggest("rate_ppz", "parameters", ["rate_pps"]), "did you mean `rate_pps`?");
        assert_eq!(suggest("zzz", "tables", ["acl", "v4"]), "the tables are `acl`, `v4`");
        assert_eq!(suggest("zzz", "tables", []), "there are no tables");
        assert!(!swapped("ab", "abc") && !swapped("abc", "acd") && swapped("ab", "ba"));
    }
}
