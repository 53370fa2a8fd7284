//! Actions and the control block: statements, verdicts (E0501), action calls
//! (E0308, recursion E0213), assignment targets (E0307) and the header
//! validity flow analysis (E0502).
//!
//! Validity analysis: the set of header instances known valid flows forward
//! through each block. `if C` adds what `C` implies when true to the
//! `then` branch and what it implies when false to the `else` branch (see
//! [`Checker::cond_facts`]); after the `if`, a branch that ends in a verdict
//! contributes nothing, otherwise the two outgoing sets are intersected. So
//! `if !ipv4.valid { pass }` makes `ipv4` valid for the rest of the block.

use std::collections::HashSet;

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::{self, BinOp as ABin, ExprKind as AK, Span};

use super::expr::{Cx, Mode};
use super::{Checker, ControlOut, Global, ParserChoice, ty_str};
use crate::hir::{self, ActionHir, ActionId, ExprKind, HdrSel, Place, Ty};

/// Most iterations of a `for` loop (it is unrolled).
pub const MAX_UNROLL: u64 = 64;

impl Checker<'_> {
    pub(crate) fn lower_actions(&mut self) -> Vec<ActionHir> {
        let mut out = Vec::new();
        for i in 0..self.actions.len() {
            let Some(sig) = self.actions.get(i) else { continue };
            let decl = sig.decl;
            let tys = sig.param_tys.clone();
            let mut cx = Cx::new(Mode::Control);
            cx.action = Some(ActionId(u32::try_from(i).unwrap_or(u32::MAX)));
            let mut params = Vec::new();
            let mut seen: Vec<&ast::Param> = Vec::new();
            for (p, ty) in decl.params.iter().zip(tys) {
                self.local_clashes(&p.name);
                if let Some(first) = seen.iter().find(|q| q.name.name == p.name.name) {
                    self.emit(
                        Diagnostic::error("nfl::E0202", format!("parameter `{}` is declared twice", p.name.name), p.name.span, "declared again here")
                            .with_label(first.name.span, "first declared here")
                            .with_help("give each parameter its own name"),
                    );
                }
                seen.push(p);
                let id = self.new_local(&p.name.name, ty);
                cx.scope.push((p.name.name.clone(), id, ty));
                params.push(id);
            }
            let (body, _) = self.block(&mut cx, &decl.body);
            if let Some(sig) = self.actions.get_mut(i) {
                sig.requires = std::mem::take(&mut cx.requires);
            }
            out.push(ActionHir { name: decl.name.name.clone(), params, body, span: decl.span });
        }
        self.propagate_requirements();
        out
    }

    /// An action that calls another needs, on entry, whatever the callee
    /// needs and the caller does not know valid at the call (a fixpoint;
    /// sets only grow, and there are finitely many instances).
    fn propagate_requirements(&mut self) {
        let calls = self.action_calls.clone();
        let mut changed = true;
        while changed {
            changed = false;
            for (caller, callee, valid, span) in &calls {
                let Some(needed) = self.actions.get(callee.index()).map(|a| a.requires.clone()) else { continue };
                let Some(sig) = self.actions.get_mut(caller.index()) else { continue };
                for (r, _, write) in needed {
                    if !valid.contains(&r) && !sig.requires.iter().any(|(x, _, _)| *x == r) {
                        sig.requires.push((r, *span, write));
                        changed = true;
                    }
                }
            }
        }
    }

    /// At a call from the control: every instance the action needs must be
    /// known valid here (E0502, pointing at the call and at the use).
    fn check_call_validity(&mut self, cx: &Cx, id: ActionId, callee: &ast::Ident, span: Span) {
        let Some(requires) = self.actions.get(id.index()).map(|a| a.requires.clone()) else { return };
        let mut reported = HashSet::new();
        for (r, use_span, write) in requires {
            if cx.valid.contains(&r) || !reported.insert(r) {
                continue;
            }
            let n = self.ref_name(r);
            let verb = if write { "writes" } else { "reads" };
            self.emit(
                Diagnostic::error(
                    "nfl::E0502",
                    format!("header `{n}` may not be valid when `{}` runs", callee.name),
                    span,
                    format!("`{n}` is not known valid at this call"),
                )
                .with_label(use_span, format!("`{}` {verb} `{n}` here", callee.name))
                .with_help(format!("call it inside `if {n}.valid {{ ... }}`, or check `{n}.valid` in the action")),
            );
        }
    }

    /// Actions may call actions, but not recursively (E0213): programs must
    /// terminate and eBPF has no unbounded recursion.
    pub(crate) fn check_action_recursion(&mut self) {
        let n = self.actions.len();
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (from, to, _) in &self.calls {
            if let Some(s) = succ.get_mut(from.index()) {
                s.push(to.index());
            }
        }
        let calls = self.calls.clone();
        for (from, to, span) in calls {
            // Does `to` reach `from` again?
            let mut seen = vec![false; n];
            let mut stack = vec![to.index()];
            let mut cyclic = false;
            while let Some(a) = stack.pop() {
                if a == from.index() {
                    cyclic = true;
                    break;
                }
                if seen.get(a).copied().unwrap_or(true) {
                    continue;
                }
                if let Some(s) = seen.get_mut(a) {
                    *s = true;
                }
                stack.extend(succ.get(a).into_iter().flatten().copied());
            }
            if cyclic {
                let name = |id: ActionId| self.actions.get(id.index()).map(|a| a.decl.name.name.clone()).unwrap_or_default();
                let (f, t) = (name(from), name(to));
                self.emit(
                    Diagnostic::error("nfl::E0213", format!("recursive action call: `{t}` leads back to `{f}`"), span, "this call recurses")
                        .with_help("actions are inlined; recursion has no bound. Restructure the actions so calls form no cycle"),
                );
            }
        }
    }

    /// The parser the (first) control asks for, reporting a bad name (E0212).
    /// `None` when there is no control.
    pub(crate) fn control_parser_choice(&mut self) -> Option<ParserChoice> {
        let first = self.controls.first().copied()?;
        let parser_choice = match &first.parser {
            None => ParserChoice::Implicit { span: first.name.span },
            Some(id) => match self.globals.get(&id.name).copied() {
                Some((Global::Parser(i), _)) => ParserChoice::Named(i),
                Some((g, decl)) => {
                    self.emit(
                        Diagnostic::error("nfl::E0212", format!("`{}` is a {}, not a parser", id.name, g.describe()), id.span, "expected a parser")
                            .with_label(decl, "declared here")
                            .with_help("name a parser: `control main(xdp, std_parse)`"),
                    );
                    ParserChoice::Bad
                }
                None => {
                    let help = if id.name == "std_parse" {
                        "`std_parse` comes from the standard library: add `import std.net`".to_string()
                    } else {
                        "name a declared parser, or leave it out when exactly one parser is in scope".to_string()
                    };
                    self.emit(
                        Diagnostic::error("nfl::E0212", format!("unknown parser `{}`", id.name), id.span, "no such parser").with_help(help),
                    );
                    ParserChoice::Bad
                }
            },
        };
        Some(parser_choice)
    }

    /// Lower the control block (E0210/E0211 for none or several).
    pub(crate) fn lower_control(&mut self) -> Option<ControlOut> {
        let Some(first) = self.controls.first().copied() else {
            let file = self.modules.first().map(|m| m.file).unwrap_or_default();
            self.emit(
                Diagnostic::error("nfl::E0210", "the program has no `control` block", Span { file, start: 0, end: 0 }, "no control in this program")
                    .with_help("add one: `control main(xdp) { pass }`"),
            );
            return None;
        };
        let others: Vec<&ast::ControlDecl> = self.controls.iter().skip(1).copied().collect();
        for c in others {
            self.emit(
                Diagnostic::error("nfl::E0211", "a program has exactly one `control` block", c.name.span, "another control")
                    .with_label(first.name.span, "the first control is here")
                    .with_help("merge the logic into one control, or move the other into its own program"),
            );
        }
        let mut cx = Cx::new(Mode::Control);
        cx.stage_ok = true;
        let (body, _) = self.block(&mut cx, &first.body);
        let stage_cuts = self.stage_cuts(body.stmts.len());
        let cut_points = std::mem::take(&mut self.cut_points);
        Some(ControlOut { name: first.name.name.clone(), hook: first.hook, body, stage_cuts, cut_points, span: first.span })
    }

    /// Lower a block; returns it and whether it always ends in a verdict.
    pub(crate) fn block(&mut self, cx: &mut Cx, b: &ast::Block) -> (hir::Block, bool) {
        let scope_len = cx.scope.len();
        let top = std::mem::replace(&mut cx.stage_ok, false);
        let mut stmts = Vec::new();
        let mut diverges = false;
        let mut verdict: Option<Span> = None;
        let mut reported = false;
        cx.insert_run.clear();
        for s in &b.stmts {
            let inserts = matches!(s, ast::Stmt::Expr { expr, .. } if matches!(&expr.kind, ast::ExprKind::MethodCall { method, .. } if method.name == "set_valid"));
            if !inserts {
                cx.insert_run.clear();
            }
            if let Some(v) = verdict
                && !reported
            {
                reported = true;
                self.emit(
                    Diagnostic::error("nfl::E0501", "statement after a verdict", s.span(), "never runs")
                        .with_label(v, "the program ends here")
                        .with_help("a verdict ends the program; remove the statements after it, or move the verdict last"),
                );
            }
            let (before, facts) = (stmts.len(), top.then(|| Self::known_valid(cx)));
            let (st, div) = match s {
                ast::Stmt::For { var, start, end, inclusive, body, span } => {
                    (None, self.for_loop(cx, var, (start, end, *inclusive), body, *span, &mut stmts))
                }
                ast::Stmt::Stage { body, span } => (None, self.stage_block(cx, top, body, *span, &mut stmts)),
                _ => self.stmt(cx, s),
            };
            stmts.extend(st);
            if let Some(facts) = facts {
                self.note_cut_points(before, stmts.len(), facts);
            }
            diverges |= div;
            if verdict.is_none() && matches!(s, ast::Stmt::Verdict { .. } | ast::Stmt::Redirect { .. }) {
                verdict = Some(s.span());
            }
        }
        cx.scope.truncate(scope_len);
        cx.stage_ok = top;
        (hir::Block { stmts, span: b.span }, diverges)
    }

    /// `for NAME in A..B { body }`: unrolled (the body checked once per
    /// value, with `NAME` that value: a constant, usable as a stack
    /// index, its statements appended to `out`), or kept as a loop
    /// (`check/loops.rs` decides). Whether it diverges.
    fn for_loop(&mut self, cx: &mut Cx, var: &ast::Ident, (start, end, inclusive): (&ast::Expr, &ast::Expr, bool), body: &ast::Block, span: Span, out: &mut Vec<hir::Stmt>) -> bool {
        let bound = |this: &mut Self, e: &ast::Expr| {
            let mut ccx = Cx::new(Mode::Const);
            ccx.loop_vars = cx.loop_vars.clone();
            let x = this.expr(&mut ccx, e, Some(Ty::UInt(64)))?;
            if x.ty == Ty::Bool {
                this.emit(Diagnostic::error("nfl::E0306", "a loop bound is an integer", e.span, "`bool`").with_help("bound the loop by numbers: `for i in 0..4`"));
                return None;
            }
            super::eval::eval(&x)
        };
        let (Some(a), Some(b)) = (bound(self, start), bound(self, end)) else { return false };
        let b = if inclusive { b.saturating_add(1) } else { b };
        let n = b.saturating_sub(a);
        let cost = super::loops::body_cost(body);
        let constant = self.needs_constant(body, &var.name);
        let line = self.sources.line_of(span).unwrap_or(0);
        // A body that branches on packet or state data forks the verifier
        // every pass: unrolled copies it can prune, a counted loop's it
        // cannot (docs/decisions.md), so such a loop unrolls further.
        let forks = self.body_forks(body, &var.name);
        let (max_n, budget) = if forks { (super::loops::MAX_FORKING_UNROLL, super::loops::FORKING_UNROLL_BUDGET) } else { (MAX_UNROLL, super::loops::UNROLL_BUDGET) };
        if !constant && (n > max_n || n.saturating_mul(cost) > budget) {
            let (stmt, diverges) = self.runtime_loop(cx, var, (a, b.max(a)), body, forks, span);
            out.extend(stmt);
            return diverges;
        }
        if constant && n > MAX_UNROLL {
            self.emit(
                Diagnostic::error("nfl::E0344", format!("a `for` loop that indexes a header stack or reshapes the packet runs at most {MAX_UNROLL} times"), span, format!("{n} iterations"))
                    .with_help("a stack index must be a constant, and each push or pop is followed, so the loop is unrolled; loop over the stack's size"),
            );
            return false;
        }
        if n > 0 {
            let why = match (constant, forks) {
                (true, _) => "it indexes a header stack or reshapes",
                (false, true) => "its body branches on packet or state data, which the verifier follows better in straight code",
                (false, false) => "short and small",
            };
            self.explain.push(format!("loop at line {line}: unrolled {n} times, about {cost} instructions each ({why})"));
        }
        let errors = self.error_count();
        for i in a..b {
            cx.loop_vars.push((var.name.clone(), i));
            self.unrolled_vars.push(var.name.clone());
            let (block, diverges) = self.block(cx, body);
            self.unrolled_vars.pop();
            cx.loop_vars.pop();
            out.extend(block.stmts);
            // Report a body's mistakes once, and stop where every path ended.
            if diverges || self.error_count() > errors {
                return diverges;
            }
        }
        false
    }

    fn stmt(&mut self, cx: &mut Cx, s: &ast::Stmt) -> (Option<hir::Stmt>, bool) {
        match s {
            // Unrolled by `block`, which can take several statements.
            ast::Stmt::For { .. } | ast::Stmt::Stage { .. } => (None, false),
            ast::Stmt::Let { name, ty, value, else_block: Some(b), span } => {
                (self.let_else(cx, name, ty.as_ref(), value, b, *span), false)
            }
            ast::Stmt::Let { name, ty, value, else_block: None, span } => {
                let value = match ty {
                    Some(t) => {
                        let t = self.ty_of(t);
                        self.expr_as(cx, value, t, None, &format!("the value of `{}`", name.name))
                    }
                    None => self.expr(cx, value, None),
                };
                let clash = self.local_clashes(name);
                let Some(value) = value else {
                    return (None, false);
                };
                let local = self.new_local(&name.name, value.ty);
                if !clash {
                    cx.scope.push((name.name.clone(), local, value.ty));
                }
                (Some(hir::Stmt::Let { local, value, span: *span }), false)
            }
            ast::Stmt::Assign { target, op, value, span } => match self.map_assign(cx, target, *op, value, *span) {
                Some(stmt) => (stmt, false),
                None => (self.assign(cx, target, *op, value, *span), false),
            },
            ast::Stmt::If { .. } => self.if_stmt(cx, s),
            ast::Stmt::Verdict { kind, span } => (Some(hir::Stmt::Verdict { kind: *kind, span: *span }), true),
            ast::Stmt::Redirect { ifindex, span } => {
                let e = self.expr_as(cx, ifindex, Ty::UInt(32), Some("nfl::E0317"), "the interface index of `redirect`");
                (e.map(|ifindex| hir::Stmt::Redirect { ifindex, span: *span }), true)
            }
            ast::Stmt::Call { callee, args, span } => (self.call(cx, callee, args, *span), false),
            ast::Stmt::Expr { expr, span } => (self.method_stmt(cx, expr, *span), false),
        }
    }

    fn if_stmt(&mut self, cx: &mut Cx, s: &ast::Stmt) -> (Option<hir::Stmt>, bool) {
        let ast::Stmt::If { cond, then_block, else_block, span } = s else {
            return (None, false);
        };
        let c = self.expr_as(cx, cond, Ty::Bool, Some("nfl::E0309"), "an `if` condition");
        let (t, f) = self.cond_facts(cond, &cx.loop_vars);
        let before = cx.valid.clone();
        let inserted_before = cx.inserted.clone();
        cx.valid.extend(t);
        let (then_b, then_div) = self.block(cx, then_block);
        let then_out = std::mem::replace(&mut cx.valid, before);
        let then_inserted = std::mem::replace(&mut cx.inserted, inserted_before);
        cx.valid.extend(f);
        let (else_b, else_div) = match else_block {
            None => (None, false),
            Some(ast::ElseBranch::Block(b)) => {
                let (b, d) = self.block(cx, b);
                (Some(b), d)
            }
            Some(ast::ElseBranch::If(inner)) => {
                let (st, d) = self.stmt(cx, inner);
                (Some(hir::Block { stmts: st.into_iter().collect(), span: inner.span() }), d)
            }
        };
        let else_out = std::mem::take(&mut cx.valid);
        // A header inserted on a side that goes on may be valid after the `if`.
        let else_inserted = std::mem::take(&mut cx.inserted);
        cx.inserted = match (then_div, else_div) {
            (true, false) => else_inserted,
            (false, true) => then_inserted,
            _ => then_inserted.union(&else_inserted).copied().collect(),
        };
        cx.valid = match (then_div, else_div) {
            (true, false) => else_out,
            (false, true) => then_out,
            // Both end the program: nothing after runs; keep the union.
            (true, true) => then_out.union(&else_out).copied().collect(),
            (false, false) => then_out.intersection(&else_out).copied().collect::<HashSet<_>>(),
        };
        let cond = c.unwrap_or(hir::Expr { kind: ExprKind::Const(0), ty: Ty::Bool, span: cond.span });
        (Some(hir::Stmt::If { cond, then_block: then_b, else_block: else_b, span: *span }), then_div && else_div)
    }

    fn assign(&mut self, cx: &mut Cx, target: &ast::Expr, op: Option<ABin>, value: &ast::Expr, span: Span) -> Option<hir::Stmt> {
        let place = self.place(cx, target);
        let place_ty = place.as_ref().map(|(_, _, ty)| *ty);
        let rhs = match place_ty {
            Some(t) => self.expr(cx, value, Some(t)),
            None => {
                // Still check the value for its own errors.
                self.expr(cx, value, None);
                return None;
            }
        };
        let (place, read, ty) = place?;
        let rhs = self.coerce(rhs?, ty, None, "the assigned value")?;
        let value = match op {
            None => rhs,
            Some(op) => {
                if op.is_comparison() || op.is_logical() || ty == Ty::Bool {
                    self.emit(
                        Diagnostic::error("nfl::E0306", format!("`{}=` needs an integer place", op.symbol()), span, format!("`{}`", ty_str(ty)))
                            .with_help("compound assignment works on integer fields and metadata; write `x = ...`"),
                    );
                    return None;
                }
                hir::Expr { kind: ExprKind::Binary { op, lhs: Box::new(read), rhs: Box::new(rhs) }, ty, span }
            }
        };
        Some(hir::Stmt::Assign { place, value, span })
    }

    /// Resolve an assignment target to a place, its current-value expression
    /// (for `op=`) and its type.
    fn place(&mut self, cx: &mut Cx, target: &ast::Expr) -> Option<(Place, hir::Expr, Ty)> {
        let span = target.span;
        let not_assignable = |this: &mut Self, msg: String, help: &str| {
            this.emit(Diagnostic::error("nfl::E0307", msg, span, "cannot be assigned").with_help(help.to_string()));
        };
        match &target.kind {
            AK::Field { base, name } => {
                if let AK::Name(b) = &base.kind
                    && !self.globals.contains_key(&b.name)
                    && cx.scope.iter().all(|(n, _, _)| n != &b.name)
                {
                    if b.name == "pkt" {
                        not_assignable(self, format!("`pkt.{}` is read-only", name.name), "packet properties come from the kernel; store what you need in `meta`");
                        return None;
                    }
                    if b.name == "meta" {
                        let read = self.expr(cx, target, None)?;
                        let ExprKind::Meta(id) = read.kind else { return None };
                        let ty = read.ty;
                        return Some((Place::Meta(id), read, ty));
                    }
                }
                if name.name == "valid" {
                    // Resolve the header for its own errors first.
                    self.header_sel(cx, base)?;
                    not_assignable(self, "`.valid` cannot be assigned".to_string(), "validity is set by the parser's `extract`");
                    return None;
                }
                let sel = self.header_sel(cx, base)?;
                let HdrSel::Fixed(r) = sel else { return None };
                let (field, width) = self.field_index(r.header, name)?;
                self.require_valid(cx, sel, span, true);
                let read = hir::Expr { kind: ExprKind::Field { header: sel, field }, ty: Ty::UInt(width), span };
                Some((Place::Field { header: r, field }, read, Ty::UInt(width)))
            }
            AK::Name(id) => {
                if cx.scope.iter().any(|(n, _, _)| n == &id.name) {
                    not_assignable(self, format!("`{}` is immutable", id.name), "`let` bindings and parameters cannot change; use a `meta` field for a variable");
                    return None;
                }
                match self.globals.get(&id.name).copied() {
                    Some((Global::Const(_), _)) => {
                        not_assignable(self, format!("`{}` is a constant", id.name), "constants cannot change; use a `meta` field for a variable")
                    }
                    Some(_) => not_assignable(
                        self,
                        format!("`{}` cannot be assigned", id.name),
                        "assign to a header field (`ipv4.ttl`), a stack element field (`vlan[0].vid`) or `meta.NAME`",
                    ),
                    None => self.unknown_name(id),
                }
                None
            }
            _ => {
                not_assignable(
                    self,
                    "this expression cannot be assigned".to_string(),
                    "assign to a header field (`ipv4.ttl`), a stack element field (`vlan[0].vid`) or `meta.NAME`",
                );
                None
            }
        }
    }

    fn call(&mut self, cx: &mut Cx, callee: &ast::Ident, args: &[ast::Expr], span: Span) -> Option<hir::Stmt> {
        let id = match self.globals.get(&callee.name).copied() {
            Some((Global::Action(id), _)) => id,
            Some((g, decl)) => {
                self.emit(
                    Diagnostic::error("nfl::E0207", format!("`{}` is a {}, not an action", callee.name, g.describe()), callee.span, "not an action")
                        .with_label(decl, "declared here")
                        .with_help("only actions can be called"),
                );
                return None;
            }
            None => {
                self.emit(
                    Diagnostic::error("nfl::E0205", format!("unknown action `{}`", callee.name), callee.span, "no such action")
                        .with_help("declare it: `action NAME(p: u32) { ... }`"),
                );
                for a in args {
                    self.expr(cx, a, None);
                }
                return None;
            }
        };
        let (decl_span, tys) = {
            let sig = self.actions.get(id.index())?;
            (sig.decl.name.span, sig.param_tys.clone())
        };
        if let Some(caller) = cx.action {
            self.calls.push((caller, id, span));
            self.action_calls.push((caller, id, cx.valid.clone(), span));
        } else {
            self.check_call_validity(cx, id, callee, span);
        }
        if args.len() != tys.len() {
            let sig: Vec<String> = tys.iter().map(|t| ty_str(*t)).collect();
            self.emit(
                Diagnostic::error(
                    "nfl::E0308",
                    format!("`{}` takes {} argument{}, {} given", callee.name, tys.len(), if tys.len() == 1 { "" } else { "s" }, args.len()),
                    span,
                    "wrong number of arguments",
                )
                .with_label(decl_span, "action declared here")
                .with_help(format!("call it as `{}({})`", callee.name, sig.join(", "))),
            );
            for a in args {
                self.expr(cx, a, None);
            }
            return None;
        }
        let mut lowered = Vec::new();
        let mut ok = true;
        for (i, (a, t)) in args.iter().zip(tys).enumerate() {
            let what = format!("argument {} of `{}`", i + 1, callee.name);
            match self.expr_as(cx, a, t, Some("nfl::E0308"), &what) {
                Some(e) => lowered.push(e),
                None => ok = false,
            }
        }
        ok.then_some(hir::Stmt::Call { action: id, args: lowered, span })
    }
}
