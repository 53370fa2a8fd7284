//! Expressions: values (`value`) and conditions lowered straight to
//! branches (`cond`), with constant folding on the way.

use nfl_syntax::ast::Hook;

use super::Builder;
use crate::hir::{BinOp, Expr, ExprKind, HdrSel, HeaderRef, Pattern, PktField, UnOp};
use crate::ir::{AluOp, BlockId, CmpOp, CtxField, Inst, Operand, Term, VarId, VarKind};

/// All ones in the low `width` bits.
pub(crate) fn mask(width: u32) -> u64 {
    if width >= 64 { u64::MAX } else { (1u64 << width) - 1 }
}

/// Fold `lhs op rhs` at `width`, with the same semantics as the lowering.
fn fold_alu(op: AluOp, lhs: u64, rhs: u64, width: u32) -> u64 {
    let v = match op {
        AluOp::Add => lhs.wrapping_add(rhs),
        AluOp::Sub => lhs.wrapping_sub(rhs),
        AluOp::Mul => lhs.wrapping_mul(rhs),
        AluOp::Div => lhs.checked_div(rhs).unwrap_or(0),
        AluOp::Mod => lhs.checked_rem(rhs).unwrap_or(lhs),
        AluOp::And => lhs & rhs,
        AluOp::Or => lhs | rhs,
        AluOp::Xor => lhs ^ rhs,
        AluOp::Shl if rhs >= u64::from(width) => 0,
        AluOp::Shl => lhs << rhs,
        AluOp::Shr if rhs >= u64::from(width) => 0,
        AluOp::Shr => lhs >> rhs,
    };
    v & mask(width)
}

fn alu_op(op: BinOp) -> Option<AluOp> {
    Some(match op {
        BinOp::Add => AluOp::Add,
        BinOp::Sub => AluOp::Sub,
        BinOp::Mul => AluOp::Mul,
        BinOp::Div => AluOp::Div,
        BinOp::Rem => AluOp::Mod,
        BinOp::BitAnd => AluOp::And,
        BinOp::BitOr => AluOp::Or,
        BinOp::BitXor => AluOp::Xor,
        BinOp::Shl => AluOp::Shl,
        BinOp::Shr => AluOp::Shr,
        _ => return None,
    })
}

fn cmp_op(op: BinOp) -> Option<CmpOp> {
    Some(match op {
        BinOp::Eq => CmpOp::Eq,
        BinOp::Ne => CmpOp::Ne,
        BinOp::Lt => CmpOp::Lt,
        BinOp::Le => CmpOp::Le,
        BinOp::Gt => CmpOp::Gt,
        BinOp::Ge => CmpOp::Ge,
        _ => return None,
    })
}

/// Whether `value` matches `pattern` (for constant keys).
fn pattern_matches(pattern: &Pattern, value: u64) -> bool {
    match pattern {
        Pattern::Any => true,
        Pattern::Value(v) => value == *v,
        Pattern::Mask { value: v, mask } => value & mask == *v,
        Pattern::Range { lo, hi } => *lo <= value && value <= *hi,
        Pattern::Set(items) => items.iter().any(|p| pattern_matches(p, value)),
    }
}

/// The stack fill levels the parser has reached, for resolving `H.last`.
pub(crate) type StackLevels<'a> = Option<&'a [u32]>;

impl Builder<'_> {
    pub(crate) fn resolve(&self, sel: HdrSel, levels: StackLevels<'_>) -> Option<HeaderRef> {
        match sel {
            HdrSel::Fixed(r) => Some(r),
            HdrSel::Last(h) => {
                let level = *levels?.get(h.index())?;
                level.checked_sub(1).map(|index| HeaderRef { header: h, index })
            }
        }
    }

    /// Put an operand in a variable (constants get a fresh one).
    pub(crate) fn to_var(&mut self, o: Operand) -> VarId {
        match o {
            Operand::Var(v) => v,
            Operand::Imm(value) => {
                let dst = self.new_var(VarKind::Scalar);
                self.push(Inst::Const { dst, value });
                dst
            }
        }
    }

    /// `dst = lhs op rhs` at `width`, truncating to `width` where the
    /// operation can carry out of it.
    pub(crate) fn alu(&mut self, op: AluOp, lhs: Operand, rhs: Operand, width: u32) -> Operand {
        if let (Operand::Imm(l), Operand::Imm(r)) = (lhs, rhs) {
            return Operand::Imm(fold_alu(op, l, r, width));
        }
        if matches!(op, AluOp::Shl | AluOp::Shr) {
            return self.shift(op, lhs, rhs, width);
        }
        let lhs = self.to_var(lhs);
        let dst = self.new_var(VarKind::Scalar);
        self.push(Inst::Alu { op, dst, lhs, rhs, width });
        let carries = matches!(op, AluOp::Add | AluOp::Sub | AluOp::Mul | AluOp::Shl);
        if carries && width != 32 && width != 64 {
            let t = self.new_var(VarKind::Scalar);
            self.push(Inst::Trunc { dst: t, src: dst, bits: width });
            return Operand::Var(t);
        }
        Operand::Var(dst)
    }

    /// Shifts by `width` or more give 0, as in P4; eBPF would mask the count.
    fn shift(&mut self, op: AluOp, lhs: Operand, rhs: Operand, width: u32) -> Operand {
        let trunc = op == AluOp::Shl && width != 32 && width != 64;
        match rhs {
            Operand::Imm(n) if n >= u64::from(width) => Operand::Imm(0),
            Operand::Imm(_) => {
                let lhs = self.to_var(lhs);
                let dst = self.new_var(VarKind::Scalar);
                self.push(Inst::Alu { op, dst, lhs, rhs, width });
                if trunc {
                    self.push(Inst::Trunc { dst, src: dst, bits: width });
                }
                Operand::Var(dst)
            }
            Operand::Var(n) => {
                let lhs = self.to_var(lhs);
                let dst = self.new_var(VarKind::Scalar);
                self.push(Inst::Const { dst, value: 0 });
                let in_range = self.new_block();
                let join = self.new_block();
                self.terminate(Term::Branch {
                    op: CmpOp::Lt,
                    lhs: n,
                    rhs: Operand::Imm(u64::from(width)),
                    width: 64,
                    then_bb: in_range,
                    else_bb: join,
                });
                self.switch_to(in_range);
                self.push(Inst::Alu { op, dst, lhs, rhs, width });
                if trunc {
                    self.push(Inst::Trunc { dst, src: dst, bits: width });
                }
                self.terminate(Term::Jump(join));
                self.switch_to(join);
                Operand::Var(dst)
            }
        }
    }

    /// Lower an expression to an operand holding its value.
    pub(crate) fn value(&mut self, expr: &Expr, levels: StackLevels<'_>) -> Operand {
        let width = expr.ty.width();
        match &expr.kind {
            ExprKind::Const(v) => Operand::Imm(*v & mask(width)),
            ExprKind::Local(l) => Operand::Var(self.locals[l.index()]),
            ExprKind::Meta(m) => Operand::Var(self.metas[m.index()]),
            ExprKind::Field { header, field } => {
                let Some(r) = self.resolve(*header, levels) else {
                    return Operand::Imm(0);
                };
                let info = &self.hir.headers[r.header.index()];
                let Some(f) = info.fields.get(*field as usize) else {
                    return Operand::Imm(0);
                };
                let (hdr_len, bit_offset, fwidth) = (info.byte_len, f.bit_offset, f.width);
                let ptr = self.ptr_of(r);
                let dst = self.new_var(VarKind::Scalar);
                // The load gets the field's own span, so a verifier message
                // about it quotes the line that reads the field.
                let outer = std::mem::replace(&mut self.span, expr.span);
                self.push(Inst::LoadField { dst, ptr, hdr_len, bit_offset, width: fwidth, wire: false });
                self.span = outer;
                Operand::Var(dst)
            }
            ExprKind::Valid(sel) => match self.resolve(*sel, levels) {
                Some(r) => {
                    let f = self.valid_of(r);
                    self.flag_value(f)
                }
                None => Operand::Imm(0),
            },
            ExprKind::Pkt(field) => self.pkt_field(*field),
            ExprKind::Offset(sel) => match self.resolve(*sel, levels) {
                Some(r) => {
                    let ptr = self.ptr_of(r);
                    self.offset_of(ptr)
                }
                None => Operand::Imm(0),
            },
            ExprKind::Unary { op, operand } => {
                let v = self.value(operand, levels);
                match op {
                    UnOp::Not => self.alu(AluOp::Xor, v, Operand::Imm(1), 1),
                    UnOp::BitNot => self.alu(AluOp::Xor, v, Operand::Imm(mask(width)), width),
                    UnOp::Neg => self.alu(AluOp::Sub, Operand::Imm(0), v, width),
                }
            }
            ExprKind::Binary { op, lhs, rhs } => match alu_op(*op) {
                Some(aop) => {
                    let l = self.value(lhs, levels);
                    let r = self.value(rhs, levels);
                    self.alu(aop, l, r, width)
                }
                None => self.materialize_bool(expr, levels),
            },
            ExprKind::Cast(inner) => {
                let v = self.value(inner, levels);
                if width < inner.ty.width() {
                    match v {
                        Operand::Imm(c) => Operand::Imm(c & mask(width)),
                        Operand::Var(src) => {
                            let dst = self.new_var(VarKind::Scalar);
                            self.push(Inst::Trunc { dst, src, bits: width });
                            Operand::Var(dst)
                        }
                    }
                } else {
                    v
                }
            }
            ExprKind::In { .. } => self.materialize_bool(expr, levels),
            ExprKind::MapGet { map, key } => self.map_read(*map, key, false),
            ExprKind::MapContains { map, key } => self.map_read(*map, key, true),
            ExprKind::MaglevHas { pool, key } => self.maglev_has(*pool, key),
            ExprKind::MeterTake { meter, amount } => self.meter_take(*meter, amount),
            ExprKind::SketchRead { sketch, key, insert } => self.sketch_read(*sketch, key, *insert),
            ExprKind::QueuePush { queue, rank, value } => self.queue_push(*queue, rank.as_deref(), value),
        }
    }

    fn pkt_field(&mut self, field: PktField) -> Operand {
        let ctx = self.func.ctx;
        match field {
            PktField::Rejected => {
                let f = self.rejected();
                self.flag_value(f)
            }
            PktField::Ifindex => {
                let dst = self.new_var(VarKind::Scalar);
                self.push(Inst::CtxLoad { dst, ctx, field: CtxField::Ifindex });
                Operand::Var(dst)
            }
            PktField::Offset => self.offset_of(self.cursor),
            PktField::Len => {
                let dst = self.new_var(VarKind::Scalar);
                match self.hir.hook {
                    Hook::Xdp => self.push(Inst::PktRemaining { dst, ptr: self.data, end: self.end }),
                    Hook::Tc => self.push(Inst::CtxLoad { dst, ctx, field: CtxField::Len }),
                }
                Operand::Var(dst)
            }
        }
    }

    /// `ptr - data`: a packet pointer's offset (u16: a packet is at most
    /// 64 KiB).
    fn offset_of(&mut self, ptr: crate::ir::VarId) -> Operand {
        let dst = self.new_var(VarKind::Scalar);
        self.push(Inst::PktRemaining { dst, ptr: self.data, end: ptr });
        self.alu(AluOp::And, Operand::Var(dst), Operand::Imm(0xffff), 64)
    }

    /// A flag bit as a 0/1 value.
    fn flag_value(&mut self, f: super::FlagBit) -> Operand {
        let shift = u64::from(f.mask.trailing_zeros());
        let v = self.alu(AluOp::Shr, Operand::Var(f.word), Operand::Imm(shift), 32);
        self.alu(AluOp::And, v, Operand::Imm(1), 32)
    }

    /// Evaluate a boolean expression into a 0/1 variable through branches.
    fn materialize_bool(&mut self, expr: &Expr, levels: StackLevels<'_>) -> Operand {
        let dst = self.new_var(VarKind::Scalar);
        let t = self.new_block();
        let f = self.new_block();
        let join = self.new_block();
        self.cond(expr, levels, t, f);
        self.switch_to(t);
        self.push(Inst::Const { dst, value: 1 });
        self.terminate(Term::Jump(join));
        self.switch_to(f);
        self.push(Inst::Const { dst, value: 0 });
        self.terminate(Term::Jump(join));
        self.switch_to(join);
        Operand::Var(dst)
    }

    /// Emit a two-way branch; folds when both sides are constant.
    pub(crate) fn branch(&mut self, op: CmpOp, lhs: Operand, rhs: Operand, width: u32, t: BlockId, f: BlockId) {
        let (op, lhs, rhs) = match (lhs, rhs) {
            (Operand::Imm(l), Operand::Imm(r)) => {
                let target = if op.eval(l, r) { t } else { f };
                self.terminate(Term::Jump(target));
                return;
            }
            (Operand::Imm(_), Operand::Var(v)) => (op.swap(), v, lhs),
            (Operand::Var(v), _) => (op, v, rhs),
        };
        let width = if width > 32 { 64 } else { 32 };
        self.terminate(Term::Branch { op, lhs, rhs, width, then_bb: t, else_bb: f });
    }

    /// Lower a boolean expression as control flow: go to `t` if it holds,
    /// `f` otherwise. Ends the current block.
    pub(crate) fn cond(&mut self, expr: &Expr, levels: StackLevels<'_>, t: BlockId, f: BlockId) {
        match &expr.kind {
            ExprKind::Binary { op: BinOp::And, lhs, rhs } => {
                let mid = self.new_block();
                self.cond(lhs, levels, mid, f);
                self.switch_to(mid);
                self.cond(rhs, levels, t, f);
            }
            ExprKind::Binary { op: BinOp::Or, lhs, rhs } => {
                let mid = self.new_block();
                self.cond(lhs, levels, t, mid);
                self.switch_to(mid);
                self.cond(rhs, levels, t, f);
            }
            ExprKind::Unary { op: UnOp::Not, operand } => self.cond(operand, levels, f, t),
            ExprKind::Valid(sel) => match self.resolve(*sel, levels) {
                Some(r) => {
                    let bit = self.valid_of(r);
                    self.test_flag(bit, t, f);
                }
                None => self.terminate(Term::Jump(f)),
            },
            ExprKind::Pkt(PktField::Rejected) => {
                let bit = self.rejected();
                self.test_flag(bit, t, f);
            }
            ExprKind::Binary { op, lhs, rhs } if cmp_op(*op).is_some() => {
                let l = self.value(lhs, levels);
                let r = self.value(rhs, levels);
                let width = lhs.ty.width().max(rhs.ty.width());
                if let Some(cop) = cmp_op(*op) {
                    self.branch(cop, l, r, width, t, f);
                }
            }
            ExprKind::In { expr: inner, pattern } => {
                let key = self.value(inner, levels);
                self.match_pattern(key, inner.ty.width(), pattern, t, f);
            }
            _ => {
                let v = self.value(expr, levels);
                self.branch(CmpOp::Ne, v, Operand::Imm(0), expr.ty.width(), t, f);
            }
        }
    }

    /// `if word & mask { t } else { f }` (one `JSET`).
    pub(crate) fn test_flag(&mut self, bit: super::FlagBit, t: BlockId, f: BlockId) {
        self.terminate(Term::Branch {
            op: CmpOp::Set,
            lhs: bit.word,
            rhs: Operand::Imm(bit.mask),
            width: 32,
            then_bb: t,
            else_bb: f,
        });
    }

    /// Branch to `t` when `key` (of `width` bits) matches `pattern`.
    pub(crate) fn match_pattern(&mut self, key: Operand, width: u32, pattern: &Pattern, t: BlockId, f: BlockId) {
        if let Operand::Imm(k) = key {
            let target = if pattern_matches(pattern, k) { t } else { f };
            self.terminate(Term::Jump(target));
            return;
        }
        match pattern {
            Pattern::Any => self.terminate(Term::Jump(t)),
            Pattern::Value(v) => self.branch(CmpOp::Eq, key, Operand::Imm(*v), width, t, f),
            Pattern::Mask { value, mask: m } => {
                if *m & mask(width) == mask(width) {
                    self.branch(CmpOp::Eq, key, Operand::Imm(*value), width, t, f);
                } else if *m == 0 {
                    self.terminate(Term::Jump(if *value == 0 { t } else { f }));
                } else {
                    let masked = self.alu(AluOp::And, key, Operand::Imm(*m), width);
                    self.branch(CmpOp::Eq, masked, Operand::Imm(*value), width, t, f);
                }
            }
            Pattern::Range { lo, hi } => {
                if lo > hi {
                    self.terminate(Term::Jump(f));
                } else if *lo == 0 {
                    self.branch(CmpOp::Le, key, Operand::Imm(*hi), width, t, f);
                } else if *hi >= mask(width) {
                    self.branch(CmpOp::Ge, key, Operand::Imm(*lo), width, t, f);
                } else if lo == hi {
                    self.branch(CmpOp::Eq, key, Operand::Imm(*lo), width, t, f);
                } else {
                    let mid = self.new_block();
                    self.branch(CmpOp::Ge, key, Operand::Imm(*lo), width, mid, f);
                    self.switch_to(mid);
                    self.branch(CmpOp::Le, key, Operand::Imm(*hi), width, t, f);
                }
            }
            Pattern::Set(items) => {
                if items.is_empty() {
                    self.terminate(Term::Jump(f));
                    return;
                }
                for (i, item) in items.iter().enumerate() {
                    let next = if i + 1 == items.len() { f } else { self.new_block() };
                    self.match_pattern(key, width, item, t, next);
                    if next != f {
                        self.switch_to(next);
                    }
                }
            }
        }
    }
}
