//! The top level of a config file: one key per `config` parameter, and the
//! reserved keys `tables` and `pools`.

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::Span;

use super::codes::{self, suggest};
use super::fit::Norm;
use super::literal::Form;
use super::reader::{Reader, Target};
use super::schema::{CfgType, ConfigSchema, ConfigValues, ParamSchema, ParamValue, SetItem};
use super::tables;
use super::yaml::{Node, Scalar};

/// The reserved top-level key holding the table entries.
pub(super) const TABLES: &str = "tables";
/// The reserved top-level key holding the maglev pools' groups.
pub(super) const POOLS: &str = "pools";

const SET_FORMS: &[Form] = &[Form::Value, Form::Prefix, Form::Range, Form::Ternary];

pub(super) fn read(r: &mut Reader, schema: &ConfigSchema, root: &Node<'_>, out: &mut ConfigValues) {
    let help = "write one `name: value` line per parameter, and table entries under `tables:`";
    let Some(pairs) = r.map(root, "the config file", help) else { return };
    let tables_index = schema.params.len();
    let pools_index = tables_index + 1;
    let keyed = r.keyed(pairs, |name| match name.trim() {
        TABLES => Some(tables_index),
        POOLS => Some(pools_index),
        name => schema.params.iter().position(|p| p.name == name),
    });
    for k in &keyed {
        if k.index == Some(tables_index) {
            tables::read(r, &schema.tables, k.value, &mut out.tables);
            continue;
        }
        if k.index == Some(pools_index) {
            super::pools::read(r, &schema.pools, k.value, &mut out.pools);
            continue;
        }
        let Some(p) = k.index.and_then(|i| schema.params.get(i)) else {
            unknown(r, schema, k.key);
            continue;
        };
        if let Some(v) = param(r, p, k.value) {
            out.params.insert(p.name.clone(), (v, k.value.span()));
        }
    }
    let top = root.span();
    let unknown: Vec<&str> = keyed.iter().filter(|k| k.index.is_none()).map(|k| k.key.text.trim()).collect();
    for (i, p) in schema.params.iter().enumerate() {
        // A misspelt `rate_ppz` is reported once, with "did you mean".
        let misspelt = || unknown.iter().any(|u| codes::closest(u, [p.name.as_str()]).is_some());
        if p.required && !keyed.iter().any(|k| k.index == Some(i)) && !misspelt() {
            let message = format!("the config file does not set `{}`, which has no default", p.name);
            let d = Diagnostic::error(codes::MISSING_PARAM, message, Span { end: top.start, ..top }, format!("`{}` is missing", p.name));
            r.push(d.with_help(format!("add a line `{}: VALUE`, or give it a default in the `.nf` config block", p.name)));
        }
    }
}

fn unknown(r: &mut Reader, schema: &ConfigSchema, key: &Scalar<'_>) {
    let name = key.text.trim();
    let help = if schema.tables.iter().any(|t| t.name == name) {
        format!("`{name}` is a table; its entries go under `tables:`")
    } else {
        let names = schema.params.iter().map(|p| p.name.as_str()).chain([TABLES, POOLS]);
        suggest(name, "parameters", names)
    };
    let d = Diagnostic::error(codes::UNKNOWN_PARAM, format!("no config parameter `{name}`"), key.span, "unknown parameter");
    r.push(d.with_help(help));
}

fn param(r: &mut Reader, p: &ParamSchema, node: &Node<'_>) -> Option<ParamValue> {
    match p.ty {
        CfgType::UInt(w) => r.uint(node, &format!("parameter `{}` (u{w})", p.name), w).map(ParamValue::UInt),
        CfgType::Bool => {
            let what = format!("parameter `{}` (bool)", p.name);
            match r.literal(node, &Target { what: &what, width: 1, accepts: &[Form::Bool] })? {
                Norm::Bool(b) => Some(ParamValue::Bool(b)),
                _ => None,
            }
        }
        CfgType::Set(w) => {
            let items = r.seq(node, &format!("set `{}`", p.name), "write a list: `[198.18.0.0/15, 10..=20]`")?;
            let what = format!("an element of set `{}` (u{w})", p.name);
            let target = Target { what: &what, width: w, accepts: SET_FORMS };
            let read: Vec<Option<SetItem>> = items.iter().map(|i| r.literal(i, &target).and_then(set_item)).collect();
            read.into_iter().collect::<Option<Vec<_>>>().map(ParamValue::Set)
        }
    }
}

fn set_item(n: Norm) -> Option<SetItem> {
    let u = |v: u128| u64::try_from(v).ok();
    Some(match n {
        Norm::Value(v) => SetItem::Value(u(v)?),
        Norm::Prefix { value, len } => SetItem::Prefix { value: u(value)?, len },
        Norm::Range { lo, hi } => SetItem::Range { lo: u(lo)?, hi: u(hi)? },
        Norm::Ternary { value, mask } => SetItem::Ternary { value: u(value)?, mask: u(mask)? },
        Norm::Any | Norm::Bool(_) => return None,
    })
}
