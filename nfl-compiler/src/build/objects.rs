//! Meters, pools and `let ... else`.
//!
//! A meter is an LRU hash from its key to `{tokens, last_ns}`, where
//! `tokens` counts billionths of a token so that refilling needs no
//! division: `tokens += elapsed_ns * rate`, capped at `burst * 1e9`. When
//! more than `burst * 1e9 / rate` nanoseconds have passed the bucket is
//! simply full, which also keeps the product from overflowing. Updates are
//! not atomic across CPUs: two CPUs taking from one bucket at the same
//! instant may both succeed (documented in docs/language.md).
//!
//! A pool is a queue map (`BPF_MAP_TYPE_QUEUE`) holding the free values;
//! pop and push are atomic in the kernel, so CPUs never get the same value.

use super::Builder;
use crate::hir::{Block, LocalId, MeterId, Optional, PoolId};
use crate::ir::{AluOp, BlockId, Call, CmpOp, Inst, MapDef, MapKind, Operand, Term, VarKind};

/// Billionths of a token per token.
const SCALE: u64 = 1_000_000_000;
/// `BPF_NOEXIST`
const NOEXIST: u64 = 1;

pub(crate) fn meter_map(m: &crate::hir::MeterHir) -> MapDef {
    let (_, key_size) = super::expr_key_layout(&m.key);
    let size = if m.key.is_empty() { 1 } else { m.size };
    MapDef { name: m.name.clone(), kind: MapKind::LruHash, key_size, value_size: 16, max_entries: size, flags: 0 }
}

pub(crate) fn pool_map(p: &crate::hir::PoolHir) -> MapDef {
    let n = (p.last - p.first + 1) as u32;
    MapDef { name: p.name.clone(), kind: MapKind::Queue, key_size: 0, value_size: 4, max_entries: n.max(1), flags: 0 }
}

impl Builder<'_> {
    /// `M.take(amount)` as a 0/1 value.
    pub(crate) fn meter_take(&mut self, meter: MeterId, amount: &crate::hir::Expr) -> Operand {
        let m = &self.hir.meters[meter.index()];
        let (rate, burst) = (m.rate, m.burst);
        let cap = burst.saturating_mul(SCALE);
        let full_ns = cap.div_ceil(rate);
        let map = self.meter_maps[meter.index()];
        let key_exprs = m.key.clone();
        let amount = self.value(amount, None);
        let res = self.new_var(VarKind::Scalar);
        self.push(Inst::Const { dst: res, value: 0 });
        let join = self.new_block();
        // More than the burst can never conform.
        let possible = self.new_block();
        self.branch(CmpOp::Gt, amount, Operand::Imm(burst), 64, join, possible);
        self.switch_to(possible);
        let need = self.alu(AluOp::Mul, amount, Operand::Imm(SCALE), 64);
        let key = self.state_key_of(&key_exprs);
        let now = self.new_var(VarKind::Scalar);
        self.push(Inst::Call { dst: Some(now), call: Call::KtimeNs });
        let (p, miss) = self.lookup(map, key);
        // Hit: refill, then take.
        let tokens = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: tokens, ptr: p, off: 0, bytes: 8 });
        let last = self.new_var(VarKind::Scalar);
        self.push(Inst::MemLoad { dst: last, ptr: p, off: 8, bytes: 8 });
        let (refill, full, take) = (self.new_block(), self.new_block(), self.new_block());
        // A `last` ahead of `now` (another CPU stored a later time): no refill.
        let forward = self.new_block();
        self.branch(CmpOp::Gt, Operand::Var(last), Operand::Var(now), 64, take, forward);
        self.switch_to(forward);
        let elapsed = self.alu(AluOp::Sub, Operand::Var(now), Operand::Var(last), 64);
        self.branch(CmpOp::Ge, elapsed, Operand::Imm(full_ns), 64, full, refill);
        self.switch_to(full);
        self.push(Inst::Const { dst: tokens, value: cap });
        self.terminate(Term::Jump(take));
        self.switch_to(refill);
        let added = self.alu(AluOp::Mul, elapsed, Operand::Imm(rate), 64);
        let sum = self.alu(AluOp::Add, Operand::Var(tokens), added, 64);
        self.assign(tokens, sum);
        let capped = self.new_block();
        self.branch(CmpOp::Gt, Operand::Var(tokens), Operand::Imm(cap), 64, capped, take);
        self.switch_to(capped);
        self.push(Inst::Const { dst: tokens, value: cap });
        self.terminate(Term::Jump(take));
        self.switch_to(take);
        let (yes, store) = (self.new_block(), self.new_block());
        self.branch(CmpOp::Ge, Operand::Var(tokens), need, 64, yes, store);
        self.switch_to(yes);
        let left = self.alu(AluOp::Sub, Operand::Var(tokens), need, 64);
        self.assign(tokens, left);
        self.push(Inst::Const { dst: res, value: 1 });
        self.terminate(Term::Jump(store));
        self.switch_to(store);
        self.push(Inst::MemStore { ptr: p, off: 0, bytes: 8, src: Operand::Var(tokens) });
        self.push(Inst::MemStore { ptr: p, off: 8, bytes: 8, src: Operand::Var(now) });
        self.terminate(Term::Jump(join));
        // Miss: a new, full bucket, minus what this packet takes.
        self.switch_to(miss);
        let val = self.new_buf(16);
        let fresh = self.alu(AluOp::Sub, Operand::Imm(cap), need, 64);
        self.push(Inst::BufStore { buf: val, off: 0, bytes: 8, src: fresh });
        self.push(Inst::BufStore { buf: val, off: 8, bytes: 8, src: Operand::Var(now) });
        self.push(Inst::Call { dst: None, call: Call::MapUpdate { map, key, value: val, flags: NOEXIST } });
        self.push(Inst::Const { dst: res, value: 1 });
        self.terminate(Term::Jump(join));
        self.switch_to(join);
        Operand::Var(res)
    }

    /// `let local = value else { else_block }`: continues where the value
    /// is present.
    pub(crate) fn let_else(&mut self, local: LocalId, value: &Optional, else_block: &Block) {
        let dst = self.locals[local.index()];
        let absent: BlockId = match value {
            Optional::MapGet { map, key } => {
                let m = self.state_maps[map.index()];
                let buf = self.state_key_of(key);
                let (p, miss) = self.lookup(m, buf);
                self.check_live(*map, p, miss);
                let bytes = crate::table::slot_bytes(self.hir.maps[map.index()].value.width());
                self.push(Inst::MemLoad { dst, ptr: p, off: 0, bytes });
                miss
            }
            Optional::PoolTake(pool) => {
                let map = self.pool_maps[pool.index()];
                let buf = self.new_buf(4);
                let r = self.new_var(VarKind::Scalar);
                self.push(Inst::Call { dst: Some(r), call: Call::MapPop { map, value: buf } });
                let (got, empty) = (self.new_block(), self.new_block());
                self.branch(CmpOp::Eq, Operand::Var(r), Operand::Imm(0), 64, got, empty);
                self.switch_to(got);
                self.push(Inst::BufLoad { dst, buf, off: 0, bytes: 4 });
                empty
            }
            Optional::MaglevPick { pool, group, key } => self.maglev_pick(*pool, group, key, dst),
            Optional::QueuePop(_) | Optional::QueuePeek(_) | Optional::QueuePopDue { .. } => self.queue_take(value, dst),
        };
        let present = self.cur;
        self.switch_to(absent);
        self.lower_block(else_block);
        if self.cur.is_some() {
            // The checker guarantees the block diverges; stay safe anyway.
            self.terminate(Term::Exit(crate::ir::Exit::Return(super::verdict_code(self.hir.hook, nfl_syntax::ast::VerdictKind::Abort))));
        }
        self.cur = present;
    }

    pub(crate) fn pool_give(&mut self, pool: PoolId, value: &crate::hir::Expr) {
        let map = self.pool_maps[pool.index()];
        let v = self.value(value, None);
        let buf = self.new_buf(4);
        self.push(Inst::BufStore { buf, off: 0, bytes: 4, src: v });
        self.push(Inst::Call { dst: None, call: Call::MapPush { map, value: buf, flags: 0 } });
    }
}
