//! How a `for` loop is kept: unrolled by the checker (the loop variable a
//! constant, so it can index a header stack), or as a runtime loop
//! (`hir::Stmt::Loop`, the variable a local) that the builder lowers as a
//! bounded loop or an open-coded iterator (`build/loops.rs`). The choice
//! follows an estimate of the unrolled code: a short loop over a small
//! body is unrolled, anything larger keeps one copy of its body.
//! docs/decisions.md ("Loops: unrolled, bounded, or an iterator").

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::{self, ExprKind as AK, Span};

use super::expr::Cx;
use super::{Checker, Global};
use crate::hir::{self, Ty};

/// Unroll when the copies would come to at most this many estimated
/// instructions.
pub const UNROLL_BUDGET: u64 = 1024;
/// A loop whose body forks the verifier is unrolled up to this many
/// passes and estimated instructions.
pub const MAX_FORKING_UNROLL: u64 = 64;
pub const FORKING_UNROLL_BUDGET: u64 = 8192;
/// The most iterations of a runtime loop (the kernel's `BPF_MAX_LOOPS`).
pub const MAX_RUNTIME_LOOP: u64 = 1 << 23;

/// A rough instruction count of one pass through `b`: an expression node
/// is one or two instructions, a call into a table, map or sketch a few
/// dozen.
pub(crate) fn body_cost(b: &ast::Block) -> u64 {
    b.stmts.iter().map(stmt_cost).sum()
}

fn stmt_cost(s: &ast::Stmt) -> u64 {
    match s {
        ast::Stmt::Let { value, else_block, .. } => 1 + expr_cost(value) + else_block.as_ref().map_or(0, body_cost),
        ast::Stmt::Assign { target, value, .. } => 2 + expr_cost(target) + expr_cost(value),
        ast::Stmt::If { cond, then_block, else_block, .. } => {
            let e = match else_block {
                Some(ast::ElseBranch::Block(b)) => body_cost(b),
                Some(ast::ElseBranch::If(s)) => stmt_cost(s),
                None => 0,
            };
            1 + expr_cost(cond) + body_cost(then_block) + e
        }
        ast::Stmt::Verdict { .. } => 2,
        ast::Stmt::Redirect { ifindex, .. } => 3 + expr_cost(ifindex),
        ast::Stmt::Call { args, .. } => 16 + args.iter().map(expr_cost).sum::<u64>(),
        ast::Stmt::Expr { expr, .. } => expr_cost(expr),
        ast::Stmt::For { body, .. } => 4 * body_cost(body),
        ast::Stmt::Stage { body, .. } => body_cost(body),
    }
}

fn expr_cost(e: &ast::Expr) -> u64 {
    match &e.kind {
        AK::Field { base, .. } => 2 + expr_cost(base),
        AK::Index { base, index } => 2 + expr_cost(base) + expr_cost(index),
        AK::MethodCall { receiver, args, .. } => 24 + expr_cost(receiver) + args.iter().map(expr_cost).sum::<u64>(),
        AK::Tuple(items) => items.iter().map(expr_cost).sum(),
        AK::Unary { operand, .. } => 1 + expr_cost(operand),
        AK::Binary { lhs, rhs, .. } => 1 + expr_cost(lhs) + expr_cost(rhs),
        AK::Cast { expr, .. } => 1 + expr_cost(expr),
        AK::In { expr, .. } => 4 + expr_cost(expr),
        _ => 1,
    }
}

impl Checker<'_> {
    /// Whether `var` must be a constant in `b` — it indexes a header
    /// stack (`vlan[i]`) or bounds a nested loop — or `b` reshapes the
    /// packet: either way the loop is unrolled.
    pub(crate) fn needs_constant(&self, b: &ast::Block, var: &str) -> bool {
        b.stmts.iter().any(|s| self.stmt_needs(s, var))
    }

    fn stmt_needs(&self, s: &ast::Stmt, var: &str) -> bool {
        let e = |x: &ast::Expr| self.expr_needs(x, var);
        match s {
            ast::Stmt::Let { value, else_block, .. } => e(value) || else_block.as_ref().is_some_and(|b| self.needs_constant(b, var)),
            ast::Stmt::Assign { target, value, .. } => e(target) || e(value),
            ast::Stmt::If { cond, then_block, else_block, .. } => {
                e(cond)
                    || self.needs_constant(then_block, var)
                    || match else_block {
                        Some(ast::ElseBranch::Block(b)) => self.needs_constant(b, var),
                        Some(ast::ElseBranch::If(s)) => self.stmt_needs(s, var),
                        None => false,
                    }
            }
            ast::Stmt::Verdict { .. } => false,
            ast::Stmt::Redirect { ifindex, .. } => e(ifindex),
            ast::Stmt::Call { args, .. } => args.iter().any(e),
            ast::Stmt::Expr { expr, .. } => e(expr),
            ast::Stmt::For { start, end, body, .. } => mentions(start, var) || mentions(end, var) || self.needs_constant(body, var),
            ast::Stmt::Stage { body, .. } => self.needs_constant(body, var),
        }
    }

    fn expr_needs(&self, x: &ast::Expr, var: &str) -> bool {
        let e = |y: &ast::Expr| self.expr_needs(y, var);
        match &x.kind {
            AK::Index { base, index } => {
                let stack = matches!(&base.kind, AK::Name(id) if matches!(self.globals.get(&id.name), Some((Global::Header(_), _))));
                (stack && mentions(index, var)) || e(base) || e(index)
            }
            AK::Field { base, .. } => e(base),
            // Reshaping changes which headers exist: it is followed per
            // pass, so a loop that reshapes is unrolled.
            AK::MethodCall { receiver, method, .. }
                if matches!(method.name.as_str(), "set_valid" | "set_invalid" | "push" | "pop")
                    && matches!(&receiver.kind, AK::Name(id) if matches!(self.globals.get(&id.name), Some((Global::Header(_), _)))) =>
            {
                true
            }
            AK::MethodCall { receiver, args, .. } => e(receiver) || args.iter().any(e),
            AK::Tuple(items) => items.iter().any(e),
            AK::Unary { operand, .. } => e(operand),
            AK::Binary { lhs, rhs, .. } => e(lhs) || e(rhs),
            AK::Cast { expr, .. } | AK::In { expr, .. } => e(expr),
            _ => false,
        }
    }

    /// `for NAME in a..b` kept as a loop: the body checked once, with
    /// `NAME` a local (`u32`, or `u64` past 2^32).
    pub(crate) fn runtime_loop(&mut self, cx: &mut Cx, var: &ast::Ident, (a, b): (u64, u64), body: &ast::Block, forks: bool, span: Span) -> (Option<hir::Stmt>, bool) {
        let n = b - a;
        if n > MAX_RUNTIME_LOOP {
            self.emit(
                Diagnostic::error("nfl::E0344", format!("a `for` loop runs at most {MAX_RUNTIME_LOOP} times"), span, format!("{n} iterations"))
                    .with_help("the kernel stops any loop after 2^23 iterations; split the work across packets"),
            );
            return (None, false);
        }
        if cx.loop_vars.iter().any(|(v, _)| *v == var.name) || cx.local(&var.name).is_some() {
            self.emit(
                Diagnostic::error("nfl::E0344", format!("the loop variable `{}` hides another `{}`", var.name, var.name), var.span, "already a name here")
                    .with_help("give the loop variable its own name"),
            );
            return (None, false);
        }
        let ty = if b <= 1 << 32 { Ty::UInt(32) } else { Ty::UInt(64) };
        let local = self.new_local(&var.name, ty);
        let before = cx.valid.clone();
        cx.scope.push((var.name.clone(), local, ty));
        let (block, diverges) = self.block(cx, body);
        cx.scope.pop();
        // The body may run no time at all: what it proved does not last.
        cx.valid = before;
        let cost = body_cost(body);
        let line = self.sources.line_of(span).unwrap_or(0);
        (Some(hir::Stmt::Loop { var: local, start: a, end: b, body: block, cost, line, forks, span }), diverges && n > 0)
    }
}

/// Whether `e` names `var` anywhere.
fn mentions(e: &ast::Expr, var: &str) -> bool {
    let m = |y: &ast::Expr| mentions(y, var);
    match &e.kind {
        AK::Name(id) => id.name == var,
        AK::Field { base, .. } => m(base),
        AK::Index { base, index } => m(base) || m(index),
        AK::MethodCall { receiver, args, .. } => m(receiver) || args.iter().any(m),
        AK::Tuple(items) => items.iter().any(m),
        AK::Unary { operand, .. } => m(operand),
        AK::Binary { lhs, rhs, .. } => m(lhs) || m(rhs),
        AK::Cast { expr, .. } | AK::In { expr, .. } => m(expr),
        _ => false,
    }
}

impl Checker<'_> {
    /// Whether `b` may branch on something other than `var` and constants
    /// (a field, `meta`, a local, a table, map or object call): the
    /// verifier then forks every pass. Conservative: `true` when unsure.
    /// Decided once here; the builder reads it from `hir::Stmt::Loop`.
    pub(crate) fn body_forks(&self, b: &ast::Block, var: &str) -> bool {
        b.stmts.iter().any(|s| self.stmt_forks(s, var))
    }

    fn stmt_forks(&self, s: &ast::Stmt, var: &str) -> bool {
        match s {
            ast::Stmt::If { cond, then_block, else_block, .. } => {
                !self.decided(cond, var)
                    || self.body_forks(then_block, var)
                    || match else_block {
                        Some(ast::ElseBranch::Block(b)) => self.body_forks(b, var),
                        Some(ast::ElseBranch::If(s)) => self.stmt_forks(s, var),
                        None => false,
                    }
            }
            ast::Stmt::Let { value, else_block: None, .. } | ast::Stmt::Assign { value, .. } => !plain(value),
            ast::Stmt::Verdict { .. } => false,
            // `c.count()`, or `c[i].count()` with a decided index: one cell.
            ast::Stmt::Expr { expr, .. } => !matches!(&expr.kind, AK::MethodCall { receiver, method, args }
                if method.name == "count" && args.is_empty() && match &receiver.kind {
                    AK::Index { index, .. } => self.decided(index, var),
                    AK::Name(_) => true,
                    _ => false,
                }),
            ast::Stmt::For { var: inner, body, .. } => self.body_forks(body, &inner.name) || self.body_forks(body, var),
            _ => true,
        }
    }

    /// Built from `var`, literals, constants, config values, the variables
    /// of loops being unrolled and operators the verifier follows (not
    /// division or remainder).
    fn decided(&self, e: &ast::Expr, var: &str) -> bool {
        match &e.kind {
            AK::Int(_) | AK::Bool(_) => true,
            AK::Name(id) => id.name == var || self.unrolled_vars.contains(&id.name) || matches!(self.globals.get(&id.name), Some((Global::Const(_), _))),
            AK::Field { base, .. } => matches!(&base.kind, AK::Name(b) if b.name == "config"),
            AK::Unary { operand, .. } | AK::Cast { expr: operand, .. } => self.decided(operand, var),
            AK::Binary { op, lhs, rhs } => !matches!(op, ast::BinOp::Div | ast::BinOp::Rem) && self.decided(lhs, var) && self.decided(rhs, var),
            _ => false,
        }
    }
}

/// An expression that branches nowhere: no method call, map read, `in`
/// test or short-circuit `&&`/`||`. (A field — of a header, `meta`, `pkt`
/// or `config` — is one load.)
fn plain(e: &ast::Expr) -> bool {
    match &e.kind {
        AK::MethodCall { .. } | AK::Index { .. } | AK::In { .. } | AK::Tuple(_) => false,
        AK::Unary { operand, .. } | AK::Cast { expr: operand, .. } => plain(operand),
        AK::Binary { op, lhs, rhs } => !matches!(op, ast::BinOp::And | ast::BinOp::Or) && plain(lhs) && plain(rhs),
        _ => true,
    }
}
