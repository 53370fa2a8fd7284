//! Counters, keyed state maps and the method calls on stateful objects
//! (`T.apply()`, `C.count()`, `C[i].count()`, `M[k]`, `M[k] = v`,
//! `M.contains(k)`, `M.remove(k)`) — E0332–E0336.

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::{self, ExprKind as AK, Ident, Span};

use super::expr::Cx;
use super::{Checker, Global};
use crate::hir::{self, CounterHir, CounterId, ExprKind, StateMapHir, StateMapId, TableId, Ty};

/// Default `size` of a state map.
pub const DEFAULT_MAP_SIZE: u32 = 65536;

impl<'a> Checker<'a> {
    /// Sizes, key and value types of counters and state maps (after
    /// constants are folded).
    pub(crate) fn lower_state_decls(&mut self) {
        for i in 0..self.counter_decls.len() {
            let d = self.counter_decls[i];
            let size = match &d.size {
                Some(e) => self.const_u32(e, "a counter's size", 1, 1 << 24).unwrap_or(1),
                None => 1,
            };
            self.counters.push(CounterHir { name: d.name.name.clone(), size, span: d.span });
        }
        for i in 0..self.map_decls.len() {
            let d = self.map_decls[i];
            let key: Vec<Ty> = d.key.iter().map(|t| self.ty_of(t)).collect();
            let value = self.ty_of(&d.value);
            let size = match &d.size {
                Some(e) => self.const_u32(e, "a map's size", 1, 1 << 24).unwrap_or(1),
                None => DEFAULT_MAP_SIZE,
            };
            let idle_ns = d.idle.as_ref().and_then(|e| self.duration(e));
            self.maps.push(StateMapHir { name: d.name.name.clone(), key, value, size, idle_ns, span: d.span });
        }
    }

    fn duration(&mut self, e: &ast::Expr) -> Option<u64> {
        match &e.kind {
            AK::Duration(ns) if *ns > 0 => Some(*ns),
            _ => {
                self.emit(
                    Diagnostic::error("nfl::E0332", "`idle` takes a duration", e.span, "not a duration")
                        .with_help("write a positive duration with a unit: `30s`, `500ms`, `5m`"),
                );
                None
            }
        }
    }

    fn global_of<'e>(&self, e: &'e ast::Expr) -> Option<(Global, &'e Ident)> {
        match &e.kind {
            AK::Name(id) => self.globals.get(&id.name).map(|(g, _)| (*g, id)),
            _ => None,
        }
    }

    pub(super) fn no_method(&mut self, what: &str, name: &str, method: &Ident, known: &str) {
        self.emit(
            Diagnostic::error("nfl::E0333", format!("{what} `{name}` has no method `{}`", method.name), method.span, "unknown method")
                .with_help(format!("{what}s have: {known}")),
        );
    }

    /// A method call used as a statement.
    pub(crate) fn method_stmt(&mut self, cx: &mut Cx, expr: &ast::Expr, span: Span) -> Option<hir::Stmt> {
        let AK::MethodCall { receiver, method, args } = &expr.kind else { return None };
        // `C[i].count()`
        if let AK::Index { base, index } = &receiver.kind
            && let Some((Global::Counter(c), name)) = self.global_of(base)
        {
            let name = name.name.clone();
            if method.name != "count" {
                self.no_method("counter", &name, method, "`count()`");
                return None;
            }
            self.no_args(method, args)?;
            let size = self.counters.get(c)?.size;
            let idx = self.expr(cx, index, Some(Ty::UInt(32)))?;
            if !matches!(idx.ty, Ty::UInt(_)) {
                self.emit(
                    Diagnostic::error("nfl::E0306", "a counter index is an integer", index.span, "`bool`")
                        .with_help(format!("index with an integer from 0 to {}", size - 1)),
                );
                return None;
            }
            return Some(hir::Stmt::Count { counter: CounterId(c as u32), index: Some(idx), span });
        }
        let Some((g, name)) = self.global_of(receiver) else {
            // `outer.set_valid()` with no `outer` declared: an unknown name.
            if let AK::Name(id) = &receiver.kind
                && cx.scope.iter().all(|(n, _, _)| n != &id.name)
            {
                self.unknown_name(id);
                return None;
            }
            self.emit(
                Diagnostic::error("nfl::E0333", format!("no method `{}` here", method.name), method.span, "not a table, counter or map")
                    .with_help("methods are called on tables (`t.apply()`), counters (`c.count()`) and maps (`m.remove(k)`)"),
            );
            return None;
        };
        let name = name.name.clone();
        match (g, method.name.as_str()) {
            (Global::Table(t), "apply") => {
                self.no_args(method, args)?;
                self.apply_validity(cx, t, &name, span);
                Some(hir::Stmt::Apply { table: TableId(t as u32), span })
            }
            (Global::Table(_), _) => {
                self.no_method("table", &name, method, "`apply()`");
                None
            }
            (Global::Counter(c), "count") => {
                self.no_args(method, args)?;
                Some(hir::Stmt::Count { counter: CounterId(c as u32), index: None, span })
            }
            (Global::Counter(_), _) => {
                self.no_method("counter", &name, method, "`count()`");
                None
            }
            (Global::Map(m), "remove") => {
                let key = self.map_key(cx, m, args, method.span)?;
                Some(hir::Stmt::MapRemove { map: StateMapId(m as u32), key, span })
            }
            (Global::Map(_), "contains") => {
                self.emit(
                    Diagnostic::error("nfl::E0334", "the result of `contains` is unused", span, "a value, not a statement")
                        .with_help("use it in a condition: `if m.contains(k) { ... }`"),
                );
                None
            }
            (Global::Map(_), _) => {
                self.no_method("map", &name, method, "`contains(k)`, `remove(k)`, `get(k)` in `let ... else`, and `m[k]` to read or write");
                None
            }
            (Global::Pool(p), "give") => self.pool_give(cx, p, args, span),
            (Global::Pool(_), "take") => {
                self.emit(
                    Diagnostic::error("nfl::E0339", "`take` may find the pool empty", span, "used as a statement")
                        .with_help(format!("bind it: `let p = {name}.take() else {{ drop }}`")),
                );
                None
            }
            (Global::Pool(_), _) => {
                self.no_method("pool", &name, method, "`take()` in `let ... else`, and `give(v)`");
                None
            }
            (Global::Maglev(_), _) => {
                self.emit(
                    Diagnostic::error("nfl::E0339", format!("`{}` is read in `let ... else`", method.name), span, "used as a statement")
                        .with_help(format!("bind the member: `let b = {name}.pick(group, KEY...) else {{ drop }}`")),
                );
                None
            }
            (Global::Meter(_), "take") => {
                self.emit(
                    Diagnostic::error("nfl::E0334", "the result of `take` is unused", span, "a value, not a statement")
                        .with_help(format!("test it: `if !{name}.take(1) {{ drop }}`")),
                );
                None
            }
            (Global::Meter(_), _) => {
                self.no_method("meter", &name, method, "`take(n)`");
                None
            }
            (Global::Queue(q), _) => self.queue_stmt(cx, q, &name, method, args, span),
            (Global::Sketch(s), "add") => self.sketch_add(cx, s, &name, args, span),
            (Global::Sketch(_), "query" | "contains" | "insert" | "estimate") => {
                self.emit(
                    Diagnostic::error("nfl::E0334", format!("the result of `{}` is unused", method.name), span, "a value, not a statement")
                        .with_help(format!("use it in a condition: `if {name}.{}() > 100 {{ drop }}`", method.name)),
                );
                None
            }
            (Global::Sketch(_), _) => {
                self.no_method("sketch", &name, method, "`add(..)`, and `query(..)` or `contains(..)` as values");
                None
            }
            (Global::Header(h), _) => self.header_method(cx, h, &name, method, args, span),
            (g, _) => {
                self.emit(
                    Diagnostic::error("nfl::E0333", format!("{} `{name}` has no methods", g.describe()), method.span, "no such method")
                        .with_help("methods are called on tables, counters and maps"),
                );
                None
            }
        }
    }

    pub(super) fn no_args(&mut self, method: &Ident, args: &[ast::Expr]) -> Option<()> {
        if args.is_empty() {
            return Some(());
        }
        self.emit(
            Diagnostic::error("nfl::E0308", format!("`{}` takes no arguments", method.name), args[0].span, "unexpected argument")
                .with_help(format!("call it as `.{}()`", method.name)),
        );
        None
    }

    /// A method call used as a value: `M.contains(k)`.
    pub(crate) fn method_expr(&mut self, cx: &mut Cx, receiver: &ast::Expr, method: &Ident, args: &[ast::Expr], span: Span) -> Option<hir::Expr> {
        if let Some((Global::Meter(m), name)) = self.global_of(receiver)
            && method.name == "take"
        {
            let name = name.name.clone();
            return self.meter_take(cx, m, &name, args, span);
        }
        if let Some((Global::Map(m), _)) = self.global_of(receiver)
            && method.name == "contains"
        {
            let key = self.map_key(cx, m, args, method.span)?;
            return Some(hir::Expr { kind: ExprKind::MapContains { map: StateMapId(m as u32), key }, ty: Ty::Bool, span });
        }
        if let Some((Global::Maglev(p), _)) = self.global_of(receiver)
            && method.name == "has"
        {
            return self.maglev_has(cx, p, method, args, span);
        }
        if let Some((Global::Queue(q), name)) = self.global_of(receiver)
            && method.name == "push"
        {
            let name = name.name.clone();
            return self.queue_push_expr(cx, q, &name, args, span);
        }
        if let Some((Global::Sketch(s), name)) = self.global_of(receiver)
            && method.name != "add"
        {
            let name = name.name.clone();
            return self.sketch_read(cx, s, &name, method, args, span);
        }
        self.emit(
            Diagnostic::error("nfl::E0334", format!("`.{}()` has no value", method.name), span, "used as a value")
                .with_help("`m.contains(k)`, `meter.take(n)`, `sketch.query(k)` and `bloom.contains(k)` give values; `m.get(k)`, `pool.take()` and `pool.pick(..)` go in `let ... else`; call the others as statements"),
        );
        None
    }

    /// `M[k]` or `M[a, b]` read; `None` (quietly) when `base` is not a map.
    pub(crate) fn map_index_expr(&mut self, cx: &mut Cx, base: &ast::Expr, index: &ast::Expr, span: Span) -> Option<Option<hir::Expr>> {
        let Some((Global::Map(m), _)) = self.global_of(base) else { return None };
        let keys = match &index.kind {
            AK::Tuple(items) => items.as_slice(),
            _ => std::slice::from_ref(index),
        };
        let value_ty = self.maps.get(m).map(|x| x.value);
        let key = self.map_key(cx, m, keys, index.span);
        Some(match (key, value_ty) {
            (Some(key), Some(ty)) => Some(hir::Expr { kind: ExprKind::MapGet { map: StateMapId(m as u32), key }, ty, span }),
            _ => None,
        })
    }

    /// `M[k] = v` / `M[k] op= v`; `None` (quietly) when not a map.
    pub(crate) fn map_assign(&mut self, cx: &mut Cx, target: &ast::Expr, op: Option<ast::BinOp>, value: &ast::Expr, span: Span) -> Option<Option<hir::Stmt>> {
        let AK::Index { base, index } = &target.kind else { return None };
        let Some((Global::Map(m), _)) = self.global_of(base) else { return None };
        let read = self.map_index_expr(cx, base, index, target.span).flatten();
        let Some(read) = read else {
            self.expr(cx, value, None);
            return Some(None);
        };
        let ty = read.ty;
        let Some(rhs) = self.expr_as(cx, value, ty, None, "the stored value") else { return Some(None) };
        let value = match op {
            None => rhs,
            Some(op) if op.is_comparison() || op.is_logical() || ty == Ty::Bool => {
                self.emit(
                    Diagnostic::error("nfl::E0306", format!("`{}=` needs an integer value", op.symbol()), span, super::ty_str(ty))
                        .with_help("compound assignment works on integer map values; write `m[k] = ...`"),
                );
                return Some(None);
            }
            Some(op) => hir::Expr { kind: ExprKind::Binary { op, lhs: Box::new(read.clone()), rhs: Box::new(rhs) }, ty, span },
        };
        let ExprKind::MapGet { key, .. } = read.kind else { return Some(None) };
        Some(Some(hir::Stmt::MapSet { map: StateMapId(m as u32), key, value, span }))
    }

    pub(crate) fn map_key(&mut self, cx: &mut Cx, m: usize, args: &[ast::Expr], span: Span) -> Option<Vec<hir::Expr>> {
        let tys = self.maps.get(m)?.key.clone();
        if tys.len() != args.len() {
            let name = self.maps.get(m)?.name.clone();
            let sig: Vec<String> = tys.iter().map(|t| super::ty_str(*t)).collect();
            self.emit(
                Diagnostic::error("nfl::E0335", format!("map `{name}` has a key of {} value(s), {} given", tys.len(), args.len()), span, "wrong key")
                    .with_help(format!("give the key as `{name}[{}]`", sig.join(", "))),
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (a, t) in args.iter().zip(tys) {
            match self.expr_as(cx, a, t, Some("nfl::E0335"), "a map key") {
                Some(e) => out.push(e),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// Header validity at `T.apply()`: what the keys and every action of
    /// the table read must be known valid here (or, inside an action,
    /// becomes that action's requirement).
    fn apply_validity(&mut self, cx: &mut Cx, t: usize, name: &str, span: Span) {
        if let Some(caller) = cx.action {
            for a in self.tables[t].actions.clone() {
                self.calls.push((caller, a, span));
                self.action_calls.push((caller, a, cx.valid.clone(), span));
            }
            let keys = self.tables[t].requires.clone();
            self.require_all(cx, keys, &format!("table `{name}` is applied"), span);
            return;
        }
        let requires = self.table_requires(t);
        self.require_all(cx, requires, &format!("table `{name}` is applied"), span);
    }
}
