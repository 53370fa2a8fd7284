//! Control statements.

use nfl_syntax::ast::{Hook, VerdictKind};

use super::{Builder, MAX_CALL_DEPTH, verdict_code};
use crate::hir::{Block, Place, Reshape, Stmt};
use crate::ir::{CtxField, Exit, Inst, Operand, Term, VarId, VarKind};

impl Builder<'_> {
    pub(crate) fn lower_block(&mut self, block: &Block) {
        let suffix = self.suffix_refs(block);
        let mut i = 0;
        while let Some(stmt) = block.stmts.get(i) {
            i += 1;
            let Stmt::Reshape { op, span } = stmt else {
                if let Some(s) = &suffix {
                    self.after.push(s[i].clone());
                    self.lower_stmt(stmt);
                    self.after.pop();
                } else {
                    self.lower_stmt(stmt);
                }
                continue;
            };
            // Consecutive inserts (or removals) resize the packet once.
            let mut ops = vec![*op];
            while let Some(Stmt::Reshape { op: next, .. }) = block.stmts.get(i)
                && same_run(*op, *next)
            {
                ops.push(*next);
                i += 1;
            }
            self.span = *span;
            self.sketch_memo = None;
            let then_exit = matches!(block.stmts.get(i), Some(Stmt::Verdict { .. }));
            if let Some(s) = &suffix {
                self.after.push(s[i].clone());
            }
            self.reshape(&ops, then_exit);
            if suffix.is_some() {
                self.after.pop();
            }
        }
    }

    /// In a program that reshapes: for each `i`, the headers named by
    /// `block.stmts[i..]` and by what follows the block (`None` otherwise).
    fn suffix_refs(&self, block: &Block) -> Option<Vec<Vec<bool>>> {
        if !self.reshapes {
            return None;
        }
        let n = self.hir.headers.len();
        // Where the enclosing statements are not tracked, assume every
        // header the program names may follow.
        let outer = self.after.last().cloned().unwrap_or_else(|| self.referenced.clone());
        debug_assert_eq!(outer.len(), n);
        let mut suffix = vec![outer; block.stmts.len() + 1];
        for i in (0..block.stmts.len()).rev() {
            let here = super::referenced::referenced_by(self.hir, std::slice::from_ref(&block.stmts[i]));
            suffix[i] = suffix[i + 1].iter().zip(here).map(|(a, b)| *a || b).collect();
        }
        Some(suffix)
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
                        let old = self.checksum_before_store(header, bit_offset, width);
                        self.push(Inst::StoreField { ptr, hdr_len, bit_offset, width, src: v });
                        self.checksum_after_store(header, old);
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
            Stmt::Reshape { op, span } => {
                self.span = *span;
                self.reshape(&[*op], false);
            }
            Stmt::Checksum { header, kind, span } => {
                self.span = *span;
                self.update_checksum(*header, *kind);
            }
            Stmt::QueuePush { queue, rank, value, span } => {
                self.span = *span;
                self.queue_push(*queue, rank.as_ref(), value);
            }
            Stmt::Loop { var, start, end, body, cost, line, forks, span } => {
                self.span = *span;
                self.lower_loop(*var, (*start, *end), body, (*cost, *line, *forks));
            }
        }
    }
}

/// Reshape statements lowered as one resize: inserts with inserts,
/// removals with removals; a `push` or `pop` alone.
fn same_run(a: Reshape, b: Reshape) -> bool {
    matches!((a, b), (Reshape::SetValid(_), Reshape::SetValid(_)) | (Reshape::SetInvalid(_), Reshape::SetInvalid(_)))
}
