//! Loading a program: the root file plus every module it imports,
//! transitively. The compiler stays pure: non-std imports are read through a
//! [`ModuleLoader`] supplied by the caller (the CLI reads `a/b.nf` next to the
//! importing file); `std.*` modules are embedded (see [`crate::stdlib`]).

use std::collections::HashMap;

use nfl_syntax::ast::{Item, Module, Span};
use nfl_syntax::{Diagnostic, SourceMap};

use crate::stdlib;

/// Supplies the text of non-std modules.
pub trait ModuleLoader {
    /// The module for an import path such as `["foo", "bar"]` (from
    /// `import foo.bar`), as `(display name, text)`, or `None` if absent.
    fn load(&mut self, path: &[String]) -> Option<(String, String)>;
}

/// A loader that knows no modules: only `std.*` imports resolve.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoModules;

impl ModuleLoader for NoModules {
    fn load(&mut self, _path: &[String]) -> Option<(String, String)> {
        None
    }
}

/// A loader over an in-memory map from dotted path (`"foo.bar"`) to text.
#[derive(Clone, Debug, Default)]
pub struct MapLoader(pub HashMap<String, String>);

impl ModuleLoader for MapLoader {
    fn load(&mut self, path: &[String]) -> Option<(String, String)> {
        let key = path.join(".");
        let text = self.0.get(&key)?.clone();
        Some((format!("{}.nf", path.join("/")), text))
    }
}

/// Parse `root_text` and every module it imports, each once.
///
/// Returns the sources (the root is `FileId(0)`), the modules in load order
/// (root first, then imports breadth-first) and every diagnostic: syntax
/// errors from each file and E0201 for imports that cannot be found.
/// Import cycles are fine: a module already loaded is not loaded again, and
/// all loaded modules share one namespace. Callers should not run
/// [`crate::check::check`] when any diagnostic is an error.
pub fn load_program(root_name: &str, root_text: &str, loader: &mut dyn ModuleLoader) -> (SourceMap, Vec<Module>, Vec<Diagnostic>) {
    let mut sources = SourceMap::new();
    let mut modules: Vec<Module> = Vec::new();
    let mut diags = Vec::new();
    // Import path -> loaded (or known missing).
    let mut seen: HashMap<Vec<String>, bool> = HashMap::new();

    let root = sources.add(root_name, root_text);
    let (module, mut d) = nfl_syntax::parse(root, root_text);
    diags.append(&mut d);
    modules.push(module);

    let mut next = 0;
    while let Some(module) = modules.get(next) {
        next += 1;
        let imports: Vec<(Vec<String>, Span)> = module
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Import(i) => Some((i.path.iter().map(|p| p.name.clone()).collect(), i.span)),
                Item::Const(_) | Item::Header(_) | Item::Meta(_) | Item::Parser(_) | Item::Action(_) | Item::Control(_) => None,
                Item::Config(_) | Item::Table(_) | Item::Counter(_) | Item::Map(_) | Item::Object(_) => None,
            })
            .collect();
        for (path, span) in imports {
            if let Some(found) = seen.get(&path) {
                if !found {
                    diags.push(unknown_module(&path, span));
                }
                continue;
            }
            let text = if stdlib::is_std(&path) {
                stdlib::lookup(&path).map(|(n, t)| (n.to_string(), t.to_string()))
            } else {
                loader.load(&path)
            };
            seen.insert(path.clone(), text.is_some());
            let Some((name, text)) = text else {
                diags.push(unknown_module(&path, span));
                continue;
            };
            let file = sources.add(name, text.clone());
            let (m, mut d) = nfl_syntax::parse(file, &text);
            diags.append(&mut d);
            modules.push(m);
        }
    }
    (sources, modules, diags)
}

fn unknown_module(path: &[String], span: Span) -> Diagnostic {
    let dotted = path.join(".");
    let help = if stdlib::is_std(path) {
        let known: Vec<String> = stdlib::MODULES.iter().map(|(p, _, _)| format!("`{}`", p.join("."))).collect();
        format!("the standard library has {}", known.join(", "))
    } else {
        format!("`import {dotted}` reads `{}.nf` next to the importing file", path.join("/"))
    };
    Diagnostic::error("nfl::E0201", format!("unknown module `{dotted}`"), span, "module not found").with_help(help)
}
