//! An entry's `args`: the action's parameters, as a list in parameter order
//! (`[7]`) or by name (`{ mark: 7 }`); left out when the action has none.

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::Span;

use super::codes::{self, suggest};
use super::reader::Reader;
use super::schema::ActionSchema;
use super::yaml::Node;

/// One value per parameter of `action`; `None` if any is wrong. `at` is
/// the `action` value, blamed when `args` is left out.
pub(super) fn read(r: &mut Reader, action: &ActionSchema, at: Span, node: Option<&Node<'_>>) -> Option<Vec<u64>> {
    let params = &action.params;
    let Some(node) = node else {
        if params.is_empty() {
            return Some(Vec::new());
        }
        let message = format!("action `{}` takes {}, and the entry has no `args`", action.name, count(params.len()));
        r.push(arity(action, message, at, "needs arguments"));
        return None;
    };
    let given: Vec<&Node<'_>> = match node {
        Node::Seq { items, span } => {
            if items.len() != params.len() {
                let message = format!("action `{}` takes {} but {} given", action.name, count(params.len()), items.len());
                r.push(arity(action, message, *span, &format!("{} given", items.len())));
                return None;
            }
            items.iter().collect()
        }
        _ => by_name(r, action, node)?,
    };
    let read: Vec<Option<u64>> = params.iter().zip(given).map(|((name, width), node)| arg(r, action, name, *width, node)).collect();
    read.into_iter().collect()
}

/// `{ mark: 7 }`: the values in parameter order.
fn by_name<'n, 'a>(r: &mut Reader, action: &ActionSchema, node: &'n Node<'a>) -> Option<Vec<&'n Node<'a>>> {
    let help = "give the arguments by name, `{ PARAM: VALUE }`, or as a list in parameter order";
    let pairs = r.map(node, "`args`", help)?;
    let mut given = vec![None; action.params.len()];
    let mut ok = true;
    for k in r.keyed(pairs, |name| action.params.iter().position(|(p, _)| p == name.trim())) {
        match k.index.and_then(|i| given.get_mut(i)) {
            Some(slot) => *slot = Some(k.value),
            None => {
                ok = false;
                let name = k.key.text.trim();
                let help = suggest(name, "parameters", action.params.iter().map(|(p, _)| p.as_str()));
                let message = format!("action `{}` has no parameter `{name}`", action.name);
                r.push(Diagnostic::error(codes::UNKNOWN_ARG, message, k.key.span, "unknown parameter").with_help(help));
            }
        }
    }
    for ((name, _), slot) in action.params.iter().zip(&given) {
        if slot.is_none() {
            let message = format!("action `{}` needs argument `{name}`, and `args` does not give it", action.name);
            r.push(arity(action, message, node.span(), &format!("`{name}` is missing")));
        }
    }
    let given: Option<Vec<_>> = given.into_iter().collect();
    given.filter(|_| ok)
}

fn arg(r: &mut Reader, action: &ActionSchema, name: &str, width: u32, node: &Node<'_>) -> Option<u64> {
    r.uint(node, &format!("argument `{name}` of `{}` (u{width})", action.name), width)
}

fn arity(action: &ActionSchema, message: String, span: Span, label: &str) -> Diagnostic {
    let names: Vec<String> = action.params.iter().map(|(p, w)| format!("{p}: u{w}")).collect();
    Diagnostic::error(codes::ARITY, message, span, label).with_help(format!("`{}({})`", action.name, names.join(", ")))
}

fn count(n: usize) -> String {
    if n == 1 { "1 argument".to_string() } else { format!("{n} arguments") }
}
