//! Which headers a program's control reads or writes after parsing (so a
//! reshape re-derives only their pointers): anywhere in the program
//! ([`referenced_headers`]), or in what runs after a given statement
//! ([`referenced_by`], following action calls, table applies and meter
//! keys).

use std::collections::HashSet;

use crate::hir::{ActionId, Block, Expr, ExprKind, HdrSel, Hir, Optional, Place, Reshape, Stmt};

/// Per header: the control, an action or a table key names it.
pub(crate) fn referenced_headers(hir: &Hir) -> Vec<bool> {
    let mut w = Walk { hir, seen: vec![false; hir.headers.len()], follow: None };
    w.block(&hir.control);
    for a in &hir.actions {
        w.block(&a.body);
    }
    for t in &hir.tables {
        t.key_exprs.iter().for_each(|e| w.expr(e));
    }
    for m in &hir.meters {
        m.key.iter().for_each(|e| w.expr(e));
    }
    w.seen
}

/// Per header: `stmts`, or an action, table or meter they use, names it.
pub(crate) fn referenced_by(hir: &Hir, stmts: &[Stmt]) -> Vec<bool> {
    let mut w = Walk { hir, seen: vec![false; hir.headers.len()], follow: Some(HashSet::new()) };
    stmts.iter().for_each(|s| w.stmt(s));
    w.seen
}

struct Walk<'h> {
    hir: &'h Hir,
    seen: Vec<bool>,
    /// Actions already walked, when calls are followed.
    follow: Option<HashSet<ActionId>>,
}

impl Walk<'_> {
    fn mark(&mut self, h: usize) {
        if let Some(s) = self.seen.get_mut(h) {
            *s = true;
        }
    }

    fn block(&mut self, b: &Block) {
        b.stmts.iter().for_each(|s| self.stmt(s));
    }

    fn action(&mut self, a: ActionId) {
        let hir = self.hir;
        let Some(done) = self.follow.as_mut() else { return };
        if done.insert(a)
            && let Some(act) = hir.actions.get(a.index())
        {
            self.block(&act.body);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        let hir = self.hir;
        match s {
            Stmt::Let { value, .. } | Stmt::PoolGive { value, .. } => self.expr(value),
            Stmt::Assign { place, value, .. } => {
                if let Place::Field { header, .. } = place {
                    self.mark(header.header.index());
                }
                self.expr(value);
            }
            Stmt::If { cond, then_block, else_block, .. } => {
                self.expr(cond);
                self.block(then_block);
                if let Some(b) = else_block {
                    self.block(b);
                }
            }
            Stmt::Verdict { .. } => {}
            Stmt::Apply { table, .. } => {
                if self.follow.is_some()
                    && let Some(t) = hir.tables.get(table.index())
                {
                    t.key_exprs.iter().for_each(|e| self.expr(e));
                    t.actions.iter().for_each(|a| self.action(*a));
                    if let Some((a, _)) = t.default {
                        self.action(a);
                    }
                }
            }
            Stmt::Redirect { ifindex, .. } => self.expr(ifindex),
            Stmt::Call { action, args, .. } => {
                args.iter().for_each(|e| self.expr(e));
                self.action(*action);
            }
            Stmt::Count { index, .. } => index.iter().for_each(|e| self.expr(e)),
            Stmt::MapSet { key, value, .. } => {
                key.iter().for_each(|e| self.expr(e));
                self.expr(value);
            }
            Stmt::MapRemove { key, .. } => key.iter().for_each(|e| self.expr(e)),
            Stmt::LetElse { value, else_block, .. } => {
                match value {
                    Optional::MapGet { key, .. } => key.iter().for_each(|e| self.expr(e)),
                    Optional::QueuePopDue { now, .. } => self.expr(now),
                    Optional::MaglevPick { group, key, .. } => {
                        self.expr(group);
                        key.iter().for_each(|e| self.expr(e));
                    }
                    Optional::PoolTake(_) | Optional::QueuePop(_) | Optional::QueuePeek(_) => {}
                }
                self.block(else_block);
            }
            Stmt::SketchAdd { key, amount, .. } => {
                key.iter().for_each(|e| self.expr(e));
                self.expr(amount);
            }
            Stmt::QueuePush { rank, value, .. } => {
                rank.iter().for_each(|e| self.expr(e));
                self.expr(value);
            }
            Stmt::Reshape { op, .. } => match op {
                Reshape::SetValid(h) | Reshape::Push(h) => self.mark(h.index()),
                // A removal measures itself by the pointers of the headers
                // after it: keep them all.
                Reshape::SetInvalid(_) | Reshape::Pop(_) => self.seen.iter_mut().for_each(|s| *s = true),
            },
            Stmt::Checksum { header, .. } => self.mark(header.header.index()),
            Stmt::Loop { body, .. } => self.block(body),
        }
    }

    fn expr(&mut self, x: &Expr) {
        let hir = self.hir;
        match &x.kind {
            ExprKind::Field { header, .. } | ExprKind::Valid(header) | ExprKind::Offset(header) => match header {
                HdrSel::Fixed(r) => self.mark(r.header.index()),
                HdrSel::Last(h) => self.mark(h.index()),
            },
            ExprKind::Unary { operand, .. } | ExprKind::Cast(operand) => self.expr(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::In { expr: inner, .. } => self.expr(inner),
            ExprKind::MapGet { key, .. }
            | ExprKind::MapContains { key, .. }
            | ExprKind::MaglevHas { key, .. }
            | ExprKind::SketchRead { key, .. } => key.iter().for_each(|k| self.expr(k)),
            ExprKind::MeterTake { meter, amount } => {
                self.expr(amount);
                if let Some(m) = hir.meters.get(meter.index()) {
                    m.key.iter().for_each(|k| self.expr(k));
                }
            }
            ExprKind::QueuePush { rank, value, .. } => {
                rank.iter().for_each(|r| self.expr(r));
                self.expr(value);
            }
            ExprKind::Const(_) | ExprKind::Local(_) | ExprKind::Meta(_) | ExprKind::Pkt(_) => {}
        }
    }
}

/// Whether the program adds or removes headers anywhere.
pub(crate) fn reshapes(hir: &Hir) -> bool {
    fn block(b: &Block) -> bool {
        b.stmts.iter().any(|s| match s {
            Stmt::Reshape { .. } => true,
            Stmt::If { then_block, else_block, .. } => block(then_block) || else_block.as_ref().is_some_and(block),
            Stmt::LetElse { else_block, .. } => block(else_block),
            Stmt::Loop { body, .. } => block(body),
            _ => false,
        })
    }
    block(&hir.control) || hir.actions.iter().any(|a| block(&a.body))
}

