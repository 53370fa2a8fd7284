//! Which headers a program's control reads or writes after parsing (so a
//! reshape re-derives only their pointers).

use crate::hir::{Block, Expr, ExprKind, HdrSel, Hir, Optional, Place, Reshape, Stmt};

/// Per header: the control, an action or a table key names it.
pub(crate) fn referenced_headers(hir: &Hir) -> Vec<bool> {
    let mut seen = vec![false; hir.headers.len()];
    block(&hir.control, &mut seen);
    for a in &hir.actions {
        block(&a.body, &mut seen);
    }
    for t in &hir.tables {
        t.key_exprs.iter().for_each(|e| expr(e, &mut seen));
    }
    seen
}

fn mark(seen: &mut [bool], h: usize) {
    if let Some(s) = seen.get_mut(h) {
        *s = true;
    }
}

fn block(b: &Block, seen: &mut [bool]) {
    for s in &b.stmts {
        stmt(s, seen);
    }
}

fn stmt(s: &Stmt, seen: &mut [bool]) {
    let mut e = |x: &Expr| expr(x, seen);
    match s {
        Stmt::Let { value, .. } | Stmt::PoolGive { value, .. } => e(value),
        Stmt::Assign { place, value, .. } => {
            if let Place::Field { header, .. } = place {
                mark(seen, header.header.index());
            }
            expr(value, seen);
        }
        Stmt::If { cond, then_block, else_block, .. } => {
            e(cond);
            block(then_block, seen);
            if let Some(b) = else_block {
                block(b, seen);
            }
        }
        Stmt::Verdict { .. } | Stmt::Apply { .. } => {}
        Stmt::Redirect { ifindex, .. } => e(ifindex),
        Stmt::Call { args, .. } => args.iter().for_each(e),
        Stmt::Count { index, .. } => index.iter().for_each(e),
        Stmt::MapSet { key, value, .. } => {
            key.iter().for_each(&mut e);
            e(value);
        }
        Stmt::MapRemove { key, .. } => key.iter().for_each(e),
        Stmt::LetElse { value, else_block, .. } => {
            match value {
                Optional::MapGet { key, .. } => key.iter().for_each(&mut e),
                Optional::QueuePopDue { now, .. } => e(now),
                Optional::MaglevPick { group, key, .. } => {
                    e(group);
                    key.iter().for_each(&mut e);
                }
                Optional::PoolTake(_) | Optional::QueuePop(_) | Optional::QueuePeek(_) => {}
            }
            block(else_block, seen);
        }
        Stmt::SketchAdd { key, amount, .. } => {
            key.iter().for_each(&mut e);
            e(amount);
        }
        Stmt::QueuePush { rank, value, .. } => {
            rank.iter().for_each(&mut e);
            e(value);
        }
        Stmt::Reshape { op, .. } => match op {
            Reshape::SetValid(h) | Reshape::Push(h) | Reshape::Pop(h) => mark(seen, h.index()),
            Reshape::SetInvalid(r) => mark(seen, r.header.index()),
        },
        Stmt::Checksum { header, .. } => mark(seen, header.header.index()),
        Stmt::Loop { body, .. } => block(body, seen),
    }
}

fn expr(x: &Expr, seen: &mut [bool]) {
    match &x.kind {
        ExprKind::Field { header, .. } | ExprKind::Valid(header) => match header {
            HdrSel::Fixed(r) => mark(seen, r.header.index()),
            HdrSel::Last(h) => mark(seen, h.index()),
        },
        ExprKind::Unary { operand, .. } | ExprKind::Cast(operand) => expr(operand, seen),
        ExprKind::Binary { lhs, rhs, .. } => {
            expr(lhs, seen);
            expr(rhs, seen);
        }
        ExprKind::In { expr: inner, .. } => expr(inner, seen),
        ExprKind::MapGet { key, .. }
        | ExprKind::MapContains { key, .. }
        | ExprKind::MaglevHas { key, .. }
        | ExprKind::SketchRead { key, .. } => {
            key.iter().for_each(|k| expr(k, seen));
        }
        ExprKind::MeterTake { amount, .. } => expr(amount, seen),
        ExprKind::QueuePush { rank, value, .. } => {
            rank.iter().for_each(|r| expr(r, seen));
            expr(value, seen);
        }
        ExprKind::Const(_) | ExprKind::Local(_) | ExprKind::Meta(_) | ExprKind::Pkt(_) => {}
    }
}
