//! Constant evaluation of lowered expressions, with the language's
//! semantics: arithmetic wraps at the expression's width, `x / 0 == 0`,
//! `x % 0 == x` (both as eBPF does), shifts by the width or more give 0.

use super::ones;
use crate::hir::{BinOp, Expr, ExprKind, Pattern, UnOp};

/// The value of `e` if it only involves constants.
pub(crate) fn eval(e: &Expr) -> Option<u64> {
    let mask = ones(e.ty.width());
    match &e.kind {
        ExprKind::Const(v) => Some(*v & mask),
        ExprKind::Unary { op, operand } => {
            let v = eval(operand)?;
            Some(match op {
                UnOp::Not => u64::from(v == 0),
                UnOp::BitNot => !v & mask,
                UnOp::Neg => v.wrapping_neg() & mask,
            })
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let a = eval(lhs)?;
            let b = eval(rhs)?;
            let w = lhs.ty.width();
            let m = ones(w);
            Some(match op {
                BinOp::Add => a.wrapping_add(b) & m,
                BinOp::Sub => a.wrapping_sub(b) & m,
                BinOp::Mul => a.wrapping_mul(b) & m,
                BinOp::Div => a.checked_div(b).unwrap_or(0),
                BinOp::Rem => a.checked_rem(b).unwrap_or(a),
                BinOp::BitAnd => a & b,
                BinOp::BitOr => a | b,
                BinOp::BitXor => a ^ b,
                BinOp::Shl => {
                    if b >= u64::from(w) {
                        0
                    } else {
                        (a << b) & m
                    }
                }
                BinOp::Shr => {
                    if b >= u64::from(w) {
                        0
                    } else {
                        a >> b
                    }
                }
                BinOp::Eq => u64::from(a == b),
                BinOp::Ne => u64::from(a != b),
                BinOp::Lt => u64::from(a < b),
                BinOp::Le => u64::from(a <= b),
                BinOp::Gt => u64::from(a > b),
                BinOp::Ge => u64::from(a >= b),
                BinOp::And => u64::from(a != 0 && b != 0),
                BinOp::Or => u64::from(a != 0 || b != 0),
            })
        }
        ExprKind::Cast(inner) => Some(eval(inner)? & mask),
        ExprKind::In { expr, pattern } => Some(u64::from(matches(eval(expr)?, pattern))),
        ExprKind::Local(_) | ExprKind::Meta(_) | ExprKind::Field { .. } | ExprKind::Valid(_) | ExprKind::Offset(_) | ExprKind::Pkt(_)
        | ExprKind::MapGet { .. }
        | ExprKind::MapContains { .. }
        | ExprKind::MaglevHas { .. }
        | ExprKind::MeterTake { .. }
        | ExprKind::SketchRead { .. }
        | ExprKind::QueuePush { .. } => None,
    }
}

/// Whether `v` matches a normalised pattern.
pub(crate) fn matches(v: u64, p: &Pattern) -> bool {
    match p {
        Pattern::Any => true,
        Pattern::Value(x) => v == *x,
        Pattern::Mask { value, mask } => v & mask == *value,
        Pattern::Range { lo, hi } => *lo <= v && v <= *hi,
        Pattern::Set(items) => items.iter().any(|p| matches(v, p)),
    }
}
