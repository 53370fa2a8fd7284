//! Control statements.

use nfl_syntax::ast::{Hook, VerdictKind};

use super::{Builder, MAX_CALL_DEPTH, verdict_code};
use crate::hir::{Block, Place, Stmt};
use crate::ir::{CtxField, Exit, Inst, Operand, Term, VarId, VarKind};

impl Builder<'_> {
    pub(crate) fn lower_block(&mut self, block: &Block) {
        for stmt in &block.stmts {
            self.lower_stmt(stmt);
        }
    }

    /// `dst = value` for an operand.
    pub(crate) fn assign(&mut self, dst: VarId, value: Operand) {
        match value {
            Operand::Imm(value) => self.push(Inst::Const { dst, value }),
            Operand::Var(src) if src == dst => {}
            Operand::Var(src) => self.push(Inst::Copy { dst, src }),
        }
    }

    pub(crate) fn lower_stmt(&mut self, stmt: &Stmt) {
        // A statement may change what a sketch key reads (fields, meta);
        // `if` only reads, and a sketch `add` sets a new memo.
        if !matches!(stmt, Stmt::If { .. } | Stmt::SketchAdd { .. } | Stmt::Count { .. }) {
            self.sketch_memo = None;
        }
        match stmt {
            Stmt::Let { local, value, span } => {
                self.span = *span;
                let v = self.value(value, None);
                let dst = self.locals[local.index()];
                self.assign(dst, v);
            }
            Stmt::Assign { place, value, span } => {
                self.span = *span;
                let v = self.value(value, None);
                match *place {
                    Place::Meta(m) => {
                        let dst = self.metas[m.index()];
                        self.assign(dst, v);
                    }
                    Place::Field { header, field } => {
                        let info = &self.hir.headers[header.header.index()];
                        let Some(f) = info.fields.get(field as usize) else { return };
                        let (hdr_len, bit_offset, width) = (info.byte_len, f.bit_offset, f.width);
                        let ptr = self.ptr_of(header);
                        self.push(Inst::StoreField { ptr, hdr_len, bit_offset, width, src: v });
                    }
                }
            }
            Stmt::If { cond, then_block, else_block, span } => {
                self.span = *span;
                let t = self.new_block();
                let f = self.new_block();
                let join = self.new_block();
                self.cond(cond, None, t, f);
                self.switch_to(t);
                self.lower_block(then_block);
                if self.cur.is_some() {
                    self.terminate(Term::Jump(join));
                }
                self.switch_to(f);
                if let Some(else_block) = else_block {
                    self.lower_block(else_block);
                }
                if self.cur.is_some() {
                    self.terminate(Term::Jump(join));
                }
                self.switch_to(join);
            }
            Stmt::Verdict { kind, span } => {
                self.span = *span;
                if self.hir.hook == Hook::Tc && *kind == VerdictKind::Tx {
                    // TC has no TX action: redirect to the receiving device.
                    let ifindex = self.new_var(VarKind::Scalar);
                    let ctx = self.func.ctx;
                    self.push(Inst::CtxLoad { dst: ifindex, ctx, field: CtxField::Ifindex });
                    self.terminate(Term::Exit(Exit::Redirect(Operand::Var(ifindex))));
                } else {
                    let code = verdict_code(self.hir.hook, *kind);
                    self.terminate(Term::Exit(Exit::Return(code)));
                }
            }
            Stmt::Redirect { ifindex, span } => {
                self.span = *span;
                let v = self.value(ifindex, None);
                self.terminate(Term::Exit(Exit::Redirect(v)));
            }
            Stmt::Call { action, args, span } => {
                self.span = *span;
                if self.call_depth >= MAX_CALL_DEPTH {
                    // The checker rejects recursion; this only guards the
                    // builder against a malformed HIR.
                    self.terminate(Term::Exit(Exit::Return(verdict_code(self.hir.hook, VerdictKind::Abort))));
                    return;
                }
                // Evaluate every argument before binding any parameter, so
                // an argument may mention a parameter of an outer call.
                let values: Vec<Operand> = args.iter().map(|a| self.value(a, None)).collect();
                self.invoke(*action, values);
            }
            Stmt::Apply { table, span } => {
                self.span = *span;
                self.apply(*table);
            }
            Stmt::Count { counter, index, span } => {
                self.span = *span;
                self.count(*counter, index.as_ref());
            }
            Stmt::MapSet { map, key, value, span } => {
                self.span = *span;
                self.map_set(*map, key, value);
            }
            Stmt::MapRemove { map, key, span } => {
                self.span = *span;
                self.map_remove(*map, key);
            }
            Stmt::LetElse { local, value, else_block, span } => {
                self.span = *span;
                self.let_else(*local, value, else_block);
            }
            Stmt::PoolGive { pool, value, span } => {
                self.span = *span;
                self.pool_give(*pool, value);
            }
            Stmt::SketchAdd { sketch, key, amount, span } => {
                self.span = *span;
                self.sketch_add(*sketch, key, amount);
            }
            Stmt::QueuePush { queue, rank, value, span } => {
                self.span = *span;
                self.queue_push(*queue, rank.as_ref(), value);
            }
        }
    }
}
