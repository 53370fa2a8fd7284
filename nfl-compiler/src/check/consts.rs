//! Constant folding. Constants may use other constants, in any order;
//! a cycle is E0209. A constant without a type annotation whose value is an
//! untyped integer stays untyped and adapts to its use, like a literal.

use nfl_syntax::Diagnostic;

use super::eval::eval;
use super::expr::{Cx, Mode};
use super::{Checker, ConstState, ConstVal};
use crate::hir::Ty;

impl Checker<'_> {
    /// Fold every constant, used or not, so each one's errors are reported.
    pub(crate) fn fold_consts(&mut self) {
        for i in 0..self.consts.len() {
            self.const_value(i);
        }
    }

    /// The folded value of constant `idx`; `None` after an error.
    pub(crate) fn const_value(&mut self, idx: usize) -> Option<ConstVal> {
        let entry = self.consts.get(idx)?;
        let decl = entry.decl;
        match entry.state {
            ConstState::Done(v) => return v,
            ConstState::InProgress => {
                self.emit(
                    Diagnostic::error(
                        "nfl::E0209",
                        format!("constant `{}` depends on itself", decl.name.name),
                        decl.name.span,
                        "its value refers back to it",
                    )
                    .with_label(decl.value.span, "through this value")
                    .with_help("break the cycle: give one of the constants a literal value"),
                );
                // Mark it failed now, so the cycle is reported only once.
                if let Some(e) = self.consts.get_mut(idx) {
                    e.state = ConstState::Done(None);
                }
                return None;
            }
            ConstState::Todo => {}
        }
        if let Some(e) = self.consts.get_mut(idx) {
            e.state = ConstState::InProgress;
        }
        let value = self.fold_one(idx);
        if let Some(e) = self.consts.get_mut(idx)
            && e.state == ConstState::InProgress
        {
            e.state = ConstState::Done(value);
        }
        match self.consts.get(idx)?.state {
            ConstState::Done(v) => v,
            ConstState::Todo | ConstState::InProgress => None,
        }
    }

    fn fold_one(&mut self, idx: usize) -> Option<ConstVal> {
        let decl = self.consts.get(idx)?.decl;
        let mut cx = Cx::new(Mode::Const);
        let declared = decl.ty.as_ref().map(|t| self.ty_of(t));
        let (lowered, ty) = match declared {
            Some(t) => {
                let what = format!("the value of `{}`", decl.name.name);
                (self.expr_as(&mut cx, &decl.value, t, None, &what)?, Some(t))
            }
            None if self.is_untyped(&decl.value) => (self.expr(&mut cx, &decl.value, Some(Ty::UInt(64)))?, None),
            None => {
                let e = self.expr(&mut cx, &decl.value, None)?;
                let t = e.ty;
                (e, Some(t))
            }
        };
        let Some(value) = eval(&lowered) else {
            self.emit(
                Diagnostic::error("nfl::E0310", format!("the value of `{}` is not constant", decl.name.name), decl.value.span, "not constant")
                    .with_help("use literals, constants and operators only"),
            );
            return None;
        };
        Some(ConstVal { value, ty })
    }
}
