//! Parser states, unrolled over header-stack fill levels.

use std::collections::HashMap;

use super::Builder;
use crate::hir::{
    Expr, ExprKind, HdrSel, HeaderId, HeaderRef, ParserHir, ParserStmt, SelectCase, StateId, Target,
    Transition,
};
use crate::ir::{BlockId, CmpOp, Inst, Operand, Term};
use nfl_syntax::ast::{Overflow, VerdictKind};

/// Largest single `skip`, in bytes. The verifier needs every variable packet
/// offset bounded; this bound keeps eight chained skips under its 64 KiB
/// packet-offset limit.
pub const MAX_SKIP: u64 = 4096;

/// One unrolled parser state: a state at given stack fill levels.
type Instance = (StateId, Vec<u32>);

struct ParserCtx {
    /// Per state: which header stacks the parse may still extract or read
    /// through `.last` from that state on. Other levels are dropped from
    /// the instance key, so states after a loop (IPv4 after any number of
    /// VLAN tags) are built once.
    relevant: Vec<Vec<bool>>,
    blocks: HashMap<Instance, BlockId>,
    worklist: Vec<Instance>,
    accept: BlockId,
    reject: BlockId,
}

impl ParserCtx {
    fn instance(&mut self, b: &mut Builder<'_>, mut key: Instance) -> BlockId {
        if let Some(rel) = self.relevant.get(key.0.index()) {
            for (level, keep) in key.1.iter_mut().zip(rel) {
                if !keep {
                    *level = 0;
                }
            }
        }
        if let Some(&block) = self.blocks.get(&key) {
            return block;
        }
        let block = b.new_block();
        self.blocks.insert(key.clone(), block);
        self.worklist.push(key);
        block
    }

    fn target(&mut self, b: &mut Builder<'_>, target: Target, levels: &[u32]) -> BlockId {
        match target {
            Target::Accept => self.accept,
            Target::Reject => self.reject,
            Target::State(s) => self.instance(b, (s, levels.to_vec())),
        }
    }
}

impl Builder<'_> {
    /// Build every reachable parser instance; the current block jumps to the
    /// start state. `accept` and `reject` are where parsing ends.
    pub(crate) fn build_parser(&mut self, accept: BlockId, reject: BlockId) {
        let Some(parser) = self.hir.parser.as_ref() else {
            self.terminate(Term::Jump(accept));
            return;
        };
        let relevant = relevant_stacks(parser, self.hir.headers.len());
        let mut pc = ParserCtx { relevant, blocks: HashMap::new(), worklist: Vec::new(), accept, reject };
        let levels = vec![0; self.hir.headers.len()];
        let start = pc.instance(self, (parser.start, levels));
        self.terminate(Term::Jump(start));
        while let Some((state_id, levels)) = pc.worklist.pop() {
            let Some(&block) = pc.blocks.get(&(state_id, levels.clone())) else { continue };
            // Levels dropped from the key are unknown here; they are only
            // dropped where nothing downstream depends on them.
            let Some(state) = parser.states.get(state_id.index()) else { continue };
            self.switch_to(block);
            self.span = state.span;
            let mut levels = levels;
            for stmt in &state.stmts {
                match stmt {
                    ParserStmt::Extract { header, span } => {
                        self.span = *span;
                        let info = &self.hir.headers[header.index()];
                        let index = levels[header.index()];
                        if index >= info.n_instances() {
                            // A full stack: the loop bound is reached, and
                            // the parser's `overflow` clause decides.
                            self.overflow(parser.overflow, accept, reject);
                            break;
                        }
                        let len = info.byte_len;
                        let r = HeaderRef { header: *header, index };
                        self.extract(r, len, reject);
                        levels[header.index()] = index + 1;
                    }
                    ParserStmt::Skip { amount, span } => {
                        self.span = *span;
                        let n = self.value(amount, Some(&levels));
                        self.skip(n, reject);
                    }
                }
            }
            if self.cur.is_none() {
                continue;
            }
            match &state.transition {
                Transition::Accept => self.terminate(Term::Jump(accept)),
                Transition::Reject => self.terminate(Term::Jump(reject)),
                Transition::Goto(s) => {
                    let next = pc.target(self, Target::State(*s), &levels);
                    self.terminate(Term::Jump(next));
                }
                Transition::Select { keys, cases } => self.select(&mut pc, keys, cases, &levels),
            }
        }
        self.explain_parser_loops(parser, pc.blocks.len());
    }

    /// `--explain`: how the parser's loops were lowered.
    fn explain_parser_loops(&mut self, parser: &ParserHir, instances: usize) {
        let stacks: Vec<String> = self
            .hir
            .headers
            .iter()
            .enumerate()
            .filter(|(i, h)| h.stack.is_some() && parser.states.iter().any(|s| s.stmts.iter().any(|st| matches!(st, ParserStmt::Extract { header, .. } if header.index() == *i))))
            .map(|(_, h)| format!("{}[{}]", h.name, h.n_instances()))
            .collect();
        if stacks.is_empty() {
            return;
        }
        self.explain.push(format!(
            "parser {}: loops bounded by {}, unrolled over the stacks' fill levels ({instances} state copies for {} states); a full stack takes `overflow {}`",
            parser.name,
            stacks.join(", "),
            parser.states.len(),
            parser.overflow.keyword()
        ));
    }

    /// `extract`: check the packet holds the header, then record and advance.
    /// End the parse of a packet with more headers than a stack holds.
    fn overflow(&mut self, policy: Overflow, accept: BlockId, reject: BlockId) {
        let exit = |kind| Term::Exit(crate::ir::Exit::Return(super::verdict_code(self.hir.hook, kind)));
        let term = match policy {
            Overflow::Pass => exit(VerdictKind::Pass),
            Overflow::Drop => exit(VerdictKind::Drop),
            Overflow::Reject => Term::Jump(reject),
            Overflow::Accept => Term::Jump(accept),
        };
        self.terminate(term);
    }

    fn extract(&mut self, r: HeaderRef, len: u32, reject: BlockId) {
        let ptr = self.ptr_of(r);
        let valid = self.valid_of(r);
        self.push(Inst::Copy { dst: ptr, src: self.cursor });
        self.push(Inst::PtrAdd { dst: self.cursor, ptr: self.cursor, off: Operand::Imm(u64::from(len)) });
        let ok = self.new_block();
        // One check per header: the verifier then accepts every field access
        // within [ptr, ptr + len) without further checks.
        self.terminate(Term::BoundsCheck { ptr: self.cursor, len: 0, end: self.end, ok, fail: reject });
        self.switch_to(ok);
        self.set_flag(valid);
    }

    fn skip(&mut self, amount: Operand, reject: BlockId) {
        match amount {
            Operand::Imm(0) => {}
            Operand::Imm(n) if n > MAX_SKIP => self.terminate(Term::Jump(reject)),
            Operand::Imm(_) => {
                self.push(Inst::PtrAdd { dst: self.cursor, ptr: self.cursor, off: amount });
            }
            Operand::Var(_) => {
                let ok = self.new_block();
                self.branch(CmpOp::Gt, amount, Operand::Imm(MAX_SKIP), 64, reject, ok);
                self.switch_to(ok);
                self.push(Inst::PtrAdd { dst: self.cursor, ptr: self.cursor, off: amount });
            }
        }
    }

    fn select(&mut self, pc: &mut ParserCtx, keys: &[crate::hir::Expr], cases: &[SelectCase], levels: &[u32]) {
        let key_vals: Vec<(Operand, u32)> =
            keys.iter().map(|k| (self.value(k, Some(levels)), k.ty.width())).collect();
        for case in cases {
            let target = pc.target(self, case.target, levels);
            for alt in &case.alternatives {
                // All keys of the alternative must match: chain the tests.
                let next_alt = self.new_block();
                for (i, ((key, width), pat)) in key_vals.iter().zip(alt).enumerate() {
                    let on_match = if i + 1 == alt.len() { target } else { self.new_block() };
                    self.match_pattern(*key, *width, pat, on_match, next_alt);
                    if on_match != target {
                        self.switch_to(on_match);
                    }
                }
                if alt.is_empty() {
                    self.terminate(Term::Jump(target));
                }
                self.switch_to(next_alt);
            }
        }
        // No case matched.
        self.terminate(Term::Jump(pc.reject));
    }
}

/// Stacks whose `.last` an expression reads.
fn last_refs(expr: &Expr, out: &mut Vec<HeaderId>) {
    match &expr.kind {
        ExprKind::Field { header: HdrSel::Last(h), .. } | ExprKind::Valid(HdrSel::Last(h)) | ExprKind::Offset(HdrSel::Last(h)) => out.push(*h),
        ExprKind::Unary { operand, .. } | ExprKind::Cast(operand) => last_refs(operand, out),
        ExprKind::Binary { lhs, rhs, .. } => {
            last_refs(lhs, out);
            last_refs(rhs, out);
        }
        ExprKind::In { expr, .. } => last_refs(expr, out),
        ExprKind::MapGet { key, .. }
        | ExprKind::MapContains { key, .. }
        | ExprKind::MaglevHas { key, .. }
        | ExprKind::SketchRead { key, .. } => {
            key.iter().for_each(|k| last_refs(k, out));
        }
        ExprKind::MeterTake { amount, .. } => last_refs(amount, out),
        ExprKind::QueuePush { rank, value, .. } => {
            rank.iter().for_each(|r| last_refs(r, out));
            last_refs(value, out);
        }
        ExprKind::Const(_)
        | ExprKind::Local(_)
        | ExprKind::Meta(_)
        | ExprKind::Field { .. }
        | ExprKind::Valid(_)
        | ExprKind::Offset(_)
        | ExprKind::Pkt(_) => {}
    }
}

/// For each state, the headers whose stack level the parse may still
/// depend on from that state on (a backward fixpoint over the state graph).
fn relevant_stacks(parser: &ParserHir, n_headers: usize) -> Vec<Vec<bool>> {
    let n = parser.states.len();
    let mut direct = vec![vec![false; n_headers]; n];
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, state) in parser.states.iter().enumerate() {
        let mut hs = Vec::new();
        for stmt in &state.stmts {
            match stmt {
                ParserStmt::Extract { header, .. } => hs.push(*header),
                ParserStmt::Skip { amount, .. } => last_refs(amount, &mut hs),
            }
        }
        let mut add_target = |t: &Target| {
            if let Target::State(s) = t {
                succs[i].push(s.index());
            }
        };
        match &state.transition {
            Transition::Goto(s) => add_target(&Target::State(*s)),
            Transition::Select { keys, cases } => {
                for k in keys {
                    last_refs(k, &mut hs);
                }
                for c in cases {
                    add_target(&c.target);
                }
            }
            Transition::Accept | Transition::Reject => {}
        }
        for h in hs {
            if let Some(slot) = direct[i].get_mut(h.index()) {
                *slot = true;
            }
        }
    }
    let mut rel = direct.clone();
    let mut changed = true;
    while changed {
        changed = false;
        for i in 0..n {
            for &s in &succs[i] {
                for h in 0..n_headers {
                    if rel.get(s).is_some_and(|r| r[h]) && !rel[i][h] {
                        rel[i][h] = true;
                        changed = true;
                    }
                }
            }
        }
    }
    rel
}

