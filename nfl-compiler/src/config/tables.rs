//! `tables:`: for each table a list of entries, in priority order. An entry
//! is a mapping with `match` (see [`super::keys`]), `action` and `args`.

use std::collections::BTreeMap;

use nfl_syntax::Diagnostic;

use super::codes::{self, suggest};
use super::keys;
use super::reader::Reader;
use super::schema::{ActionSchema, EntryValue, TableSchema};
use super::yaml::Node;

const FIELDS: [&str; 3] = ["match", "action", "args"];

pub(super) fn read(r: &mut Reader, tables: &[TableSchema], node: &Node<'_>, out: &mut BTreeMap<String, Vec<EntryValue>>) {
    let help = "write one `TABLE:` key per table, each with a list of entries";
    let Some(pairs) = r.map(node, "`tables`", help) else { return };
    for k in r.keyed(pairs, |name| tables.iter().position(|t| t.name == name.trim())) {
        let Some(table) = k.index.and_then(|i| tables.get(i)) else {
            let name = k.key.text.trim();
            let help = suggest(name, "tables", tables.iter().map(|t| t.name.as_str()));
            r.push(Diagnostic::error(codes::UNKNOWN_TABLE, format!("no table `{name}`"), k.key.span, "unknown table").with_help(help));
            continue;
        };
        let help = "list the entries, each starting with `- match:`";
        let Some(items) = r.seq(k.value, &format!("table `{}`", table.name), help) else { continue };
        let entries = items.iter().filter_map(|item| entry(r, table, item)).collect();
        out.insert(table.name.clone(), entries);
    }
}

fn entry(r: &mut Reader, table: &TableSchema, node: &Node<'_>) -> Option<EntryValue> {
    let help = "an entry is a mapping: `- { match: { KEY: VALUE }, action: NAME, args: { PARAM: VALUE } }`";
    let pairs = r.map(node, &format!("an entry of table `{}`", table.name), help)?;
    let mut fields: [Option<&Node<'_>>; 3] = [None; 3];
    for k in r.keyed(pairs, |name| FIELDS.iter().position(|f| *f == name.trim())) {
        match k.index.and_then(|i| fields.get_mut(i)) {
            Some(slot) => *slot = Some(k.value),
            None => {
                let name = k.key.text.trim();
                let message = format!("an entry has no field `{name}`");
                let help = suggest(name, "fields of an entry", FIELDS);
                r.push(Diagnostic::error(codes::UNKNOWN_FIELD, message, k.key.span, "unknown field").with_help(help));
            }
        }
    }
    let [matches, action, args] = fields;
    let matches = keys::read(r, table, matches, node.span());
    let Some(action_node) = action else {
        let names: Vec<String> = table.actions.iter().map(|a| format!("`{}`", a.name)).collect();
        let message = format!("an entry of table `{}` has no `action`", table.name);
        let d = Diagnostic::error(codes::NO_ACTION, message, node.span(), "no `action`");
        r.push(d.with_help(format!("add `action: NAME`; the table's actions are {}", names.join(", "))));
        return None;
    };
    let a = self::action(r, table, action_node)?;
    let args = super::args::read(r, a, action_node.span(), args);
    Some(EntryValue { matches: matches?, action: a.name.clone(), args: args?, span: node.span() })
}

fn action<'t>(r: &mut Reader, table: &'t TableSchema, node: &Node<'_>) -> Option<&'t ActionSchema> {
    let s = r.scalar(node, "`action`", "name one of the table's actions: `action: NAME`")?;
    let name = s.text.trim();
    let found = table.actions.iter().find(|a| a.name == name);
    if found.is_none() {
        let help = suggest(name, "table's actions", table.actions.iter().map(|a| a.name.as_str()));
        let message = format!("table `{}` has no action `{name}`", table.name);
        r.push(Diagnostic::error(codes::UNKNOWN_ACTION, message, s.span, "unknown action").with_help(help));
    }
    found
}
