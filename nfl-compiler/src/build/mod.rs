//! HIR to IR.
//!
//! The parser is unrolled: each reachable pair (state, fill level of every
//! header stack) becomes its own block, so a stack's size bounds every loop
//! and `H.last` is a fixed instance at each point. Header instances get a
//! packet pointer variable and a validity bit. The bits (and
//! `pkt.rejected`) are packed in 32-bit flag words that start at 0 and only
//! ever change by OR-ing a constant, so on every path the verifier knows
//! their exact value and prunes guards like `if ipv4.valid` that cannot
//! hold; packing keeps registers free for the values the control uses.

mod control;
mod expr;
mod heap;
mod loops;
pub mod maglev;
mod objects;
mod parser;
pub mod queue;
mod rbtree;
mod referenced;
mod reshape;
mod resize;
mod checksum;
pub mod sketch;
mod sketch_sampled;
pub mod stage;
mod state;
mod table;
mod wheel;

pub use state::{expr_key_layout, state_key_layout};


use nfl_syntax::ast::{Hook, Span, VerdictKind};

use crate::hir::{HeaderRef, Hir};
use crate::ir::{BlockData, BlockId, CtxField, Exit, Function, Inst, MapDef, MapId, Term, VarData, VarId, VarKind};

/// Return codes for each verdict on each hook.
pub fn verdict_code(hook: Hook, kind: VerdictKind) -> u32 {
    match (hook, kind) {
        (Hook::Xdp, VerdictKind::Abort) => 0,
        (Hook::Xdp, VerdictKind::Drop) => 1,
        (Hook::Xdp, VerdictKind::Pass) => 2,
        (Hook::Xdp, VerdictKind::Tx) => 3,
        (Hook::Tc, VerdictKind::Pass) => 0,
        (Hook::Tc, VerdictKind::Drop | VerdictKind::Abort) => 2,
        // TC has no TX verdict; `tx` lowers to a redirect (see `control`).
        (Hook::Tc, VerdictKind::Tx) => 7,
    }
}

/// The mutable state of one IR construction.
pub(crate) struct Builder<'h> {
    hir: &'h Hir,
    func: Function,
    /// The block instructions are appended to; `None` after a terminator,
    /// until the next block is selected (code there is unreachable).
    cur: Option<BlockId>,
    span: Span,
    data: VarId,
    end: VarId,
    cursor: VarId,
    /// `[header][instance]` packet pointer and validity bit.
    hdr_ptr: Vec<Vec<VarId>>,
    hdr_valid: Vec<Vec<FlagBit>>,
    /// The flag words; bit 0 of the first is `pkt.rejected`.
    flags: Vec<VarId>,
    metas: Vec<VarId>,
    locals: Vec<VarId>,
    /// Depth of inlined action calls, as a guard against recursion.
    call_depth: u32,
    /// Per table: its rules map and (Tss) masks map.
    table_maps: Vec<(MapId, Option<MapId>)>,
    /// Per tuple-space table: the per-CPU scratch value of its best hit.
    table_best: Vec<Option<MapId>>,
    counter_maps: Vec<MapId>,
    state_maps: Vec<MapId>,
    /// Per table: its hit/miss stats map.
    table_stats: Vec<MapId>,
    meter_maps: Vec<MapId>,
    pool_maps: Vec<MapId>,
    /// `--explain` lines the builder adds.
    explain: Vec<String>,
    maglev_maps: Vec<[MapId; 2]>,
    /// Per sketch: its value's map, then its auxiliary maps.
    sketch_maps: Vec<Vec<MapId>>,
    /// The cells the last counting `add` touched, for a `query` of the same
    /// key that follows in the same block.
    sketch_memo: Option<sketch::SketchMemo>,
    queue_maps: Vec<MapId>,
    /// The capability profile lowered for.
    target: crate::target::Target,
    /// BTF the queues need (value structs, the rbtree callback).
    graph: queue::GraphNeeds,
    /// Where headers go when the packet is reshaped.
    layout: crate::deparse::Layout,
    /// Per header: the pending RFC 1624 sum of a TCP/UDP checksum that
    /// `update_checksum()` folds in (only for headers it is called on).
    csum_acc: Vec<Option<VarId>>,
    /// Per header: named after parsing (a reshape re-derives only these
    /// pointers).
    referenced: Vec<bool>,
    /// In a program that reshapes: per nesting level of the blocks being
    /// lowered, the headers named by what runs after the current statement
    /// (a reshape re-derives only those pointers).
    after: Vec<Vec<bool>>,
    reshapes: bool,
    /// The stage being built, for a split program.
    stage: Option<stage::StageCx>,
}

const MAX_CALL_DEPTH: u32 = 32;

/// One bit of a flag word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FlagBit {
    pub word: VarId,
    pub mask: u64,
}

/// Build the IR of a checked program (for the `helpers` profile).
pub fn build(hir: &Hir) -> Function {
    build_for(hir, crate::target::Target::Helpers).0
}

/// Build the IR for a profile, with the BTF its queues need.
pub fn build_for(hir: &Hir, target: crate::target::Target) -> (Function, queue::GraphNeeds) {
    let (func, graph, _) = build_stage(hir, target, None);
    (func, graph)
}

/// Build stage `k` of a program split by `plan` (the whole program for
/// `None`), with what the builder decided (`--explain` lines: how each
/// runtime loop is lowered).
pub fn build_stage(
    hir: &Hir,
    target: crate::target::Target,
    staged: Option<(&stage::StagePlan, usize)>,
) -> (Function, queue::GraphNeeds, Vec<String>) {
    let mut func = Function {
        name: hir.name.clone(),
        hook: hir.hook,
        vars: Vec::new(),
        blocks: Vec::new(),
        entry: BlockId(0),
        ctx: VarId(0),
        maps: Vec::new(),
        bufs: Vec::new(),
    };
    let ctx = new_var(&mut func, VarKind::Ctx, Some("ctx".into()));
    func.ctx = ctx;
    let data = new_var(&mut func, VarKind::PktPtr, Some("data".into()));
    let end = new_var(&mut func, VarKind::PktEnd, Some("data_end".into()));
    let cursor = new_var(&mut func, VarKind::PktPtr, Some("cursor".into()));
    let mut flags = Vec::new();
    // Bit 0 of word 0 is `pkt.rejected`; header instances follow.
    let mut n_bits = 1u32;
    let mut next_bit = |func: &mut Function, flags: &mut Vec<VarId>| {
        let (word, bit) = ((n_bits / 32) as usize, n_bits % 32);
        if word == flags.len() {
            flags.push(new_var(func, VarKind::Scalar, Some(format!("flags{word}"))));
        }
        n_bits += 1;
        FlagBit { word: flags[word], mask: 1u64 << bit }
    };
    flags.push(new_var(&mut func, VarKind::Scalar, Some("flags0".into())));
    let mut hdr_ptr = Vec::new();
    let mut hdr_valid = Vec::new();
    for header in &hir.headers {
        let n = header.n_instances();
        let name = |i: u32, what: &str| match header.stack {
            Some(_) => format!("{}[{i}].{what}", header.name),
            None => format!("{}.{what}", header.name),
        };
        hdr_ptr.push((0..n).map(|i| new_var(&mut func, VarKind::PktPtr, Some(name(i, "ptr")))).collect());
        hdr_valid.push((0..n).map(|_| next_bit(&mut func, &mut flags)).collect());
    }
    let metas = hir
        .metas
        .iter()
        .map(|m| new_var(&mut func, VarKind::Scalar, Some(format!("meta.{}", m.name))))
        .collect();
    let locals = hir.locals.iter().map(|l| new_var(&mut func, VarKind::Scalar, Some(l.name.clone()))).collect();
    let add_map = |func: &mut Function, m: MapDef| {
        func.maps.push(m);
        MapId(func.maps.len() as u32 - 1)
    };
    let (table_maps, table_best): (Vec<_>, Vec<_>) = hir
        .tables
        .iter()
        .map(|t| {
            let ids: Vec<MapId> = table::table_maps(&t.layout).into_iter().map(|m| add_map(&mut func, m)).collect();
            let rules = ids.first().copied().unwrap_or(MapId(u32::MAX));
            ((rules, ids.get(1).copied()), ids.get(2).copied())
        })
        .unzip();
    let meter_maps = hir.meters.iter().map(|m| add_map(&mut func, objects::meter_map(m))).collect();
    let pool_maps = hir.pools.iter().map(|p| add_map(&mut func, objects::pool_map(p))).collect();
    let maglev_maps = hir.maglevs.iter().map(|p| maglev::maglev_maps(p).map(|m| add_map(&mut func, m))).collect();
    let table_stats = hir.tables.iter().map(|t| add_map(&mut func, table::stats_map(&t.layout))).collect();
    let counter_maps = hir.counters.iter().map(|c| add_map(&mut func, state::counter_map(&c.name, c.size))).collect();
    let state_maps = hir
        .maps
        .iter()
        .map(|m| add_map(&mut func, state::state_map(&m.name, &m.key, m.idle_ns.is_some(), m.size)))
        .collect();
    let sketch_maps =
        hir.sketches.iter().map(|s| sketch::sketch_maps(s).into_iter().map(|m| add_map(&mut func, m)).collect()).collect();
    let mut graph = queue::GraphNeeds::default();
    let queue_maps = hir.queues.iter().map(|q| add_map(&mut func, queue::queue_map(q, target, &mut graph))).collect();
    let layout = crate::deparse::layout(&hir.headers, hir.parser.as_ref());
    let csum_acc = checksum::accumulators(hir, &mut func);
    let stage = staged.map(|(plan, index)| {
        let [scratch, progs] = stage::stage_maps(hir, plan);
        func.name = stage::StagePlan::program_name(&hir.name, index);
        stage::StageCx { index, plan: plan.clone(), scratch: add_map(&mut func, scratch), progs: add_map(&mut func, progs) }
    });
    let mut b = Builder {
        hir,
        func,
        cur: None,
        span: hir.span,
        data,
        end,
        cursor,
        hdr_ptr,
        hdr_valid,
        flags,
        metas,
        locals,
        call_depth: 0,
        table_maps,
        table_best,
        counter_maps,
        state_maps,
        table_stats,
        meter_maps,
        pool_maps,
        maglev_maps,
        sketch_maps,
        sketch_memo: None,
        queue_maps,
        target,
        graph,
        explain: Vec::new(),
        layout,
        csum_acc,
        referenced: referenced::referenced_headers(hir),
        after: Vec::new(),
        reshapes: referenced::reshapes(hir),
        stage,
    };
    b.build_program();
    (b.func, b.graph, b.explain)
}

fn new_var(func: &mut Function, kind: VarKind, name: Option<String>) -> VarId {
    let id = VarId(func.vars.len() as u32);
    func.vars.push(VarData { kind, name });
    id
}

impl<'h> Builder<'h> {
    fn build_program(&mut self) {
        let entry = self.new_block();
        self.func.entry = entry;
        self.switch_to(entry);
        let ctx = self.func.ctx;
        self.push(Inst::CtxLoad { dst: self.data, ctx, field: CtxField::Data });
        self.push(Inst::CtxLoad { dst: self.end, ctx, field: CtxField::DataEnd });
        self.push(Inst::Copy { dst: self.cursor, src: self.data });
        for word in self.flags.clone() {
            self.push(Inst::Const { dst: word, value: 0 });
        }
        for meta in self.metas.clone() {
            self.push(Inst::Const { dst: meta, value: 0 });
        }
        for acc in self.csum_acc.clone().into_iter().flatten() {
            self.push(Inst::Const { dst: acc, value: 0 });
        }
        let control = self.new_block();
        if self.hir.parser.is_some() {
            let reject = self.new_block();
            self.build_parser(control, reject);
            self.switch_to(reject);
            self.set_flag(self.rejected());
            self.terminate(Term::Jump(control));
        } else {
            self.terminate(Term::Jump(control));
        }
        self.switch_to(control);
        self.span = self.hir.control.span;
        let body = &self.hir.control;
        match self.stage.clone() {
            Some(st) => self.lower_stage(&st),
            None => {
                // Nothing runs after the control's own block.
                self.after.push(vec![false; self.hir.headers.len()]);
                self.lower_block(body);
                self.after.pop();
            }
        }
        // Falling off the end of the control passes the packet.
        if self.cur.is_some() {
            self.span = Span { start: body.span.end.saturating_sub(1), ..body.span };
            self.terminate(Term::Exit(Exit::Return(verdict_code(self.hir.hook, VerdictKind::Pass))));
        }
    }

    fn new_var(&mut self, kind: VarKind) -> VarId {
        new_var(&mut self.func, kind, None)
    }

    fn new_block(&mut self) -> BlockId {
        let id = BlockId(self.func.blocks.len() as u32);
        self.func.blocks.push(BlockData {
            insts: Vec::new(),
            spans: Vec::new(),
            // Placeholder; every block reached by construction is terminated.
            term: Term::Exit(Exit::Return(0)),
            term_span: self.span,
        });
        id
    }

    fn switch_to(&mut self, b: BlockId) {
        self.cur = Some(b);
    }

    /// The current block, creating an unreachable one after a terminator so
    /// that dead code still has somewhere to go (the CFG cleanup drops it).
    fn cur_block(&mut self) -> BlockId {
        match self.cur {
            Some(b) => b,
            None => {
                let b = self.new_block();
                self.cur = Some(b);
                b
            }
        }
    }

    fn push(&mut self, inst: Inst) {
        let b = self.cur_block();
        let span = self.span;
        let block = &mut self.func.blocks[b.index()];
        block.insts.push(inst);
        block.spans.push(span);
    }

    fn terminate(&mut self, term: Term) {
        let b = self.cur_block();
        let span = self.span;
        let block = &mut self.func.blocks[b.index()];
        block.term = term;
        block.term_span = span;
        self.cur = None;
    }

    fn ptr_of(&self, r: HeaderRef) -> VarId {
        self.hdr_ptr[r.header.index()][r.index as usize]
    }

    fn valid_of(&self, r: HeaderRef) -> FlagBit {
        self.hdr_valid[r.header.index()][r.index as usize]
    }

    fn rejected(&self) -> FlagBit {
        FlagBit { word: self.flags[0], mask: 1 }
    }

    /// `word &= !mask` (a header removed)
    fn clear_flag(&mut self, f: FlagBit) {
        self.push(Inst::Alu {
            op: crate::ir::AluOp::And,
            dst: f.word,
            lhs: f.word,
            rhs: crate::ir::Operand::Imm(!f.mask & 0xffff_ffff),
            width: 32,
        });
    }

    /// `word |= mask`
    fn set_flag(&mut self, f: FlagBit) {
        self.push(Inst::Alu {
            op: crate::ir::AluOp::Or,
            dst: f.word,
            lhs: f.word,
            rhs: crate::ir::Operand::Imm(f.mask),
            width: 32,
        });
    }
}
