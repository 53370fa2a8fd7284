//! Structural checks of the IR. A failure here is a compiler bug.

use super::{Function, Inst, Operand, Term, VarId, VarKind};

fn check_var(func: &Function, v: VarId, what: &str) -> Result<(), String> {
    if v.index() < func.vars.len() { Ok(()) } else { Err(format!("{what}: {v} out of range")) }
}

fn check_kind(func: &Function, v: VarId, kind: VarKind, what: &str) -> Result<(), String> {
    check_var(func, v, what)?;
    let got = func.var(v).kind;
    if got == kind { Ok(()) } else { Err(format!("{what}: {v} is {got:?}, expected {kind:?}")) }
}

fn check_operand_scalar(func: &Function, o: &Operand, what: &str) -> Result<(), String> {
    match o {
        Operand::Var(v) => check_kind(func, *v, VarKind::Scalar, what),
        Operand::Imm(_) => Ok(()),
    }
}

/// Verify the function's structure; returns the first problem found.
pub fn verify(func: &Function) -> Result<(), String> {
    if func.entry.index() >= func.blocks.len() {
        return Err("entry block out of range".into());
    }
    check_kind(func, func.ctx, VarKind::Ctx, "ctx")?;
    for (bi, block) in func.blocks.iter().enumerate() {
        if block.spans.len() != block.insts.len() {
            return Err(format!("bb{bi}: spans not parallel to instructions"));
        }
        for inst in &block.insts {
            let what = format!("bb{bi}: {}", super::print::print_inst(inst));
            match inst {
                Inst::Const { dst, .. } | Inst::Trunc { dst, .. } => {
                    check_kind(func, *dst, VarKind::Scalar, &what)?;
                }
                Inst::Copy { dst, src } => {
                    check_var(func, *dst, &what)?;
                    check_kind(func, *src, func.var(*dst).kind, &what)?;
                }
                Inst::Alu { dst, lhs, rhs, width, .. } => {
                    check_kind(func, *dst, VarKind::Scalar, &what)?;
                    check_kind(func, *lhs, VarKind::Scalar, &what)?;
                    check_operand_scalar(func, rhs, &what)?;
                    if *width == 0 || *width > 64 {
                        return Err(format!("{what}: bad width"));
                    }
                }
                Inst::CtxLoad { dst, ctx, field } => {
                    check_kind(func, *ctx, VarKind::Ctx, &what)?;
                    let want = match field {
                        super::CtxField::Data => VarKind::PktPtr,
                        super::CtxField::DataEnd => VarKind::PktEnd,
                        super::CtxField::Ifindex | super::CtxField::Len => VarKind::Scalar,
                    };
                    check_kind(func, *dst, want, &what)?;
                }
                Inst::PktRemaining { dst, ptr, end } => {
                    check_kind(func, *dst, VarKind::Scalar, &what)?;
                    check_kind(func, *ptr, VarKind::PktPtr, &what)?;
                    check_kind(func, *end, VarKind::PktEnd, &what)?;
                }
                Inst::PtrAdd { dst, ptr, off } => {
                    check_kind(func, *dst, VarKind::PktPtr, &what)?;
                    check_kind(func, *ptr, VarKind::PktPtr, &what)?;
                    check_operand_scalar(func, off, &what)?;
                }
                Inst::LoadField { dst, ptr, hdr_len, bit_offset, width, .. } => {
                    check_kind(func, *dst, VarKind::Scalar, &what)?;
                    check_kind(func, *ptr, VarKind::PktPtr, &what)?;
                    if *width == 0 || *width > 64 || bit_offset + width > hdr_len * 8 {
                        return Err(format!("{what}: field outside header"));
                    }
                }
                Inst::StoreField { ptr, hdr_len, bit_offset, width, src } => {
                    check_kind(func, *ptr, VarKind::PktPtr, &what)?;
                    check_operand_scalar(func, src, &what)?;
                    if *width == 0 || *width > 64 || bit_offset + width > hdr_len * 8 {
                        return Err(format!("{what}: field outside header"));
                    }
                }
            }
        }
        for succ in block.term.successors() {
            if succ.index() >= func.blocks.len() {
                return Err(format!("bb{bi}: successor {succ} out of range"));
            }
        }
        match &block.term {
            Term::Branch { lhs, rhs, .. } => {
                check_kind(func, *lhs, VarKind::Scalar, "branch")?;
                check_operand_scalar(func, rhs, "branch")?;
            }
            Term::BoundsCheck { ptr, end, .. } => {
                check_kind(func, *ptr, VarKind::PktPtr, "bounds")?;
                check_kind(func, *end, VarKind::PktEnd, "bounds")?;
            }
            Term::Exit(super::Exit::Redirect(o)) => check_operand_scalar(func, o, "redirect")?,
            Term::Jump(_) | Term::Exit(super::Exit::Return(_)) => {}
        }
    }
    Ok(())
}
