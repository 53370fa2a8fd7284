//! Declaration collection: one namespace for every loaded module,
//! duplicate declarations (E0202), reserved names (E0208), `meta` merging.

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::{self, Ident, Item};

use super::{ActionSig, Checker, ConstEntry, ConstState, Global};
use crate::hir::{ActionId, HeaderId, MetaInfo};

/// Names with a built-in meaning that no declaration may take.
pub(crate) const RESERVED_NAMES: [&str; 3] = ["meta", "pkt", "config"];

impl<'a> Checker<'a> {
    /// Pass 1: register every item of every module.
    pub(crate) fn collect(&mut self) {
        let modules = self.modules;
        for module in modules {
            for item in &module.items {
                match item {
                    Item::Import(_) => {}
                    Item::Const(c) => {
                        let idx = self.consts.len();
                        self.consts.push(ConstEntry { decl: c, state: ConstState::Todo });
                        self.declare(&c.name, Global::Const(idx));
                    }
                    Item::Header(h) => {
                        let id = HeaderId(u32::try_from(self.headers.len()).unwrap_or(u32::MAX));
                        let info = self.layout_header(h);
                        self.headers.push(info);
                        self.declare(&h.name, Global::Header(id));
                    }
                    Item::Meta(m) => self.collect_meta(m),
                    Item::Parser(p) => {
                        let idx = self.parsers.len();
                        self.parsers.push(p);
                        self.declare(&p.name, Global::Parser(idx));
                    }
                    Item::Action(a) => {
                        let id = ActionId(u32::try_from(self.actions.len()).unwrap_or(u32::MAX));
                        let param_tys = a.params.iter().map(|p| self.ty_of(&p.ty)).collect();
                        self.actions.push(ActionSig { decl: a, param_tys, requires: Vec::new() });
                        self.declare(&a.name, Global::Action(id));
                    }
                    Item::Control(c) => {
                        let idx = self.controls.len();
                        self.controls.push(c);
                        self.declare(&c.name, Global::Control(idx));
                    }
                    Item::Config(c) => self.collect_config(c),
                    Item::Table(t) => {
                        let idx = self.tables.len();
                        self.tables.push(super::tables::TableSig {
                            decl: t,
                            keys: Vec::new(),
                            key_exprs: Vec::new(),
                            actions: Vec::new(),
                            requires: Vec::new(),
                            ok: false,
                        });
                        self.declare(&t.name, Global::Table(idx));
                    }
                    Item::Counter(c) => {
                        let idx = self.counter_decls.len();
                        self.counter_decls.push(c);
                        self.declare(&c.name, Global::Counter(idx));
                    }
                    Item::Map(m) => {
                        let idx = self.map_decls.len();
                        self.map_decls.push(m);
                        self.declare(&m.name, Global::Map(idx));
                    }
                    Item::Object(o) => self.collect_object(o),
                }
            }
        }
    }

    pub(crate) fn declare(&mut self, name: &Ident, what: Global) {
        if self.reserved(name) {
            return;
        }
        if let Some((prev, first)) = self.globals.get(&name.name) {
            let d = Diagnostic::error(
                "nfl::E0202",
                format!("`{}` is declared more than once", name.name),
                name.span,
                format!("{} declared again here", what.describe()),
            )
            .with_label(*first, format!("first declared here as a {}", prev.describe()))
            .with_help("every constant, header, parser, action and control needs its own name (imports share one namespace)");
            self.emit(d);
            return;
        }
        self.globals.insert(name.name.clone(), (what, name.span));
    }

    /// Report (E0208) and return true when `name` is reserved.
    pub(crate) fn reserved(&mut self, name: &Ident) -> bool {
        if RESERVED_NAMES.contains(&name.name.as_str()) {
            self.emit(
                Diagnostic::error("nfl::E0208", format!("`{}` is a reserved name", name.name), name.span, "reserved")
                    .with_help(format!("`{}` is built in (`{}.FIELD`); pick another name", name.name, name.name)),
            );
            return true;
        }
        false
    }

    fn collect_meta(&mut self, m: &ast::MetaDecl) {
        for f in &m.fields {
            let ty = self.ty_of(&f.ty);
            if let Some(i) = self.metas.iter().position(|x| x.name == f.name.name) {
                let first = self.meta_spans.get(i).copied().unwrap_or(f.name.span);
                self.emit(
                    Diagnostic::error(
                        "nfl::E0202",
                        format!("`meta.{}` is declared more than once", f.name.name),
                        f.name.span,
                        "declared again here",
                    )
                    .with_label(first, "first declared here")
                    .with_help("rename or remove one of the metadata fields"),
                );
                continue;
            }
            self.metas.push(MetaInfo { name: f.name.name.clone(), ty });
            self.meta_spans.push(f.name.span);
        }
    }

    /// Report that a local or parameter would shadow a global; returns true
    /// when it does (the binding is still made so checking can go on).
    pub(crate) fn local_clashes(&mut self, name: &Ident) -> bool {
        if self.reserved(name) {
            return true;
        }
        if let Some((what, first)) = self.globals.get(&name.name).copied() {
            self.emit(
                Diagnostic::error(
                    "nfl::E0202",
                    format!("`{}` is already declared as a {}", name.name, what.describe()),
                    name.span,
                    "this binding would hide it",
                )
                .with_label(first, "declared here")
                .with_help("locals and parameters cannot reuse a global name; rename the binding"),
            );
            return true;
        }
        false
    }
}
