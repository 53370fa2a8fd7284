//! IR optimisation passes. Each takes and returns a valid function.

use std::collections::HashSet;

use crate::ir::{BlockData, BlockId, CmpOp, Function, Inst, Operand, Term, VarId};

/// Per-block live-in and live-out variable sets (backward dataflow).
pub struct Liveness {
    pub live_in: Vec<HashSet<VarId>>,
    pub live_out: Vec<HashSet<VarId>>,
}

pub fn liveness(func: &Function) -> Liveness {
    let n = func.blocks.len();
    let mut uses: Vec<HashSet<VarId>> = vec![HashSet::new(); n];
    let mut defs: Vec<HashSet<VarId>> = vec![HashSet::new(); n];
    for (i, block) in func.blocks.iter().enumerate() {
        for inst in &block.insts {
            for u in inst.uses() {
                if !defs[i].contains(&u) {
                    uses[i].insert(u);
                }
            }
            if let Some(d) = inst.def() {
                defs[i].insert(d);
            }
        }
        for u in block.term.uses() {
            if !defs[i].contains(&u) {
                uses[i].insert(u);
            }
        }
    }
    let mut live_in: Vec<HashSet<VarId>> = vec![HashSet::new(); n];
    let mut live_out: Vec<HashSet<VarId>> = vec![HashSet::new(); n];
    let order = func.reverse_postorder();
    let mut changed = true;
    while changed {
        changed = false;
        for &b in order.iter().rev() {
            let i = b.index();
            let mut out = HashSet::new();
            for s in func.blocks[i].term.successors() {
                out.extend(live_in[s.index()].iter().copied());
            }
            let mut inn: HashSet<VarId> = out.difference(&defs[i]).copied().collect();
            inn.extend(uses[i].iter().copied());
            if inn != live_in[i] || out != live_out[i] {
                live_in[i] = inn;
                live_out[i] = out;
                changed = true;
            }
        }
    }
    Liveness { live_in, live_out }
}

/// Remove instructions whose results are never read. Repeats to a fixpoint.
pub fn dead_code(func: &mut Function) {
    loop {
        let live = liveness(func);
        let mut removed = false;
        for (i, block) in func.blocks.iter_mut().enumerate() {
            let mut live_now: HashSet<VarId> = live.live_out[i].clone();
            live_now.extend(block.term.uses());
            let mut keep = vec![true; block.insts.len()];
            for (j, inst) in block.insts.iter().enumerate().rev() {
                let needed = inst.has_side_effect() || inst.def().is_some_and(|d| live_now.contains(&d));
                if !needed {
                    keep[j] = false;
                    removed = true;
                    continue;
                }
                if let Some(d) = inst.def() {
                    live_now.remove(&d);
                }
                live_now.extend(inst.uses());
            }
            let mut k = keep.iter();
            block.insts.retain(|_| k.next().copied().unwrap_or(true));
            let mut k = keep.iter();
            block.spans.retain(|_| k.next().copied().unwrap_or(true));
        }
        if !removed {
            break;
        }
    }
}

/// Thread jumps through empty blocks, fold branches whose targets agree, and
/// drop unreachable blocks, renumbering the rest in reverse post-order.
pub fn simplify_cfg(func: &mut Function) {
    // Follow chains of empty `jump` blocks (bounded, in case of a cycle).
    let forward = |func: &Function, mut b: BlockId| {
        for _ in 0..func.blocks.len() {
            let block = func.block(b);
            match block.term {
                Term::Jump(next) if block.insts.is_empty() && next != b => b = next,
                _ => break,
            }
        }
        b
    };
    // Empty blocks that return the same constant are one block: the first
    // of them stands for all (clang's tail merging of `return XDP_DROP`).
    let mut first_return: Vec<(u32, BlockId)> = Vec::new();
    let mut canonical: Vec<BlockId> = func.block_ids().collect();
    for b in func.block_ids() {
        let block = func.block(b);
        if let (true, Term::Exit(crate::ir::Exit::Return(code))) = (block.insts.is_empty(), &block.term) {
            match first_return.iter().find(|(c, _)| c == code) {
                Some(&(_, first)) => canonical[b.index()] = first,
                None => first_return.push((*code, b)),
            }
        }
    }
    let forward = |func: &Function, b: BlockId| canonical[forward(func, b).index()];
    let targets: Vec<Vec<BlockId>> = func
        .blocks
        .iter()
        .map(|blk| blk.term.successors().into_iter().map(|s| forward(func, s)).collect())
        .collect();
    for (block, new) in func.blocks.iter_mut().zip(targets) {
        for (slot, t) in block.term.successors_mut().into_iter().zip(new) {
            *slot = t;
        }
        // A bounds check is never folded, even when both outcomes meet:
        // every packet runs the whole parser (docs/language.md), so that a
        // parser's cost and its handling of short packets stay in the
        // program whether or not the control reads its results.
        if let Term::Branch { then_bb, else_bb, .. } = block.term
            && then_bb == else_bb
        {
            block.term = Term::Jump(then_bb);
        }
    }
    func.entry = forward(func, func.entry);
    renumber(func);
}

/// Keep only reachable blocks, numbered in reverse post-order.
fn renumber(func: &mut Function) {
    let order = func.reverse_postorder();
    let mut map = vec![None; func.blocks.len()];
    for (new, old) in order.iter().enumerate() {
        map[old.index()] = Some(BlockId(new as u32));
    }
    let mut old_blocks: Vec<Option<BlockData>> = std::mem::take(&mut func.blocks).into_iter().map(Some).collect();
    for old in &order {
        if let Some(mut block) = old_blocks[old.index()].take() {
            for s in block.term.successors_mut() {
                *s = map[s.index()].unwrap_or(*s);
            }
            func.blocks.push(block);
        }
    }
    func.entry = BlockId(0);
}

/// Reuse a header field already loaded on the way to this point: along
/// chains of blocks with a single predecessor (the parser's tree and the
/// control's nested `if`s), a `LoadField` of the same pointer, offset and
/// width becomes a copy of the earlier result. Any store to the packet, or
/// a redefinition of the pointer or of the earlier result, forgets it.
pub fn load_cse(func: &mut Function) {
    type Avail = Vec<(VarId, u32, u32, VarId)>;
    let order = func.reverse_postorder();
    let mut n_preds = vec![0u32; func.blocks.len()];
    let mut pred = vec![None; func.blocks.len()];
    for &b in &order {
        for s in func.block(b).term.successors() {
            n_preds[s.index()] += 1;
            pred[s.index()] = Some(b);
        }
    }
    let mut avail_out: Vec<Option<Avail>> = vec![None; func.blocks.len()];
    let packet: Vec<bool> = func.vars.iter().map(|v| v.kind == crate::ir::VarKind::PktPtr).collect();
    for &b in &order {
        let mut avail: Avail = match pred[b.index()] {
            Some(p) if n_preds[b.index()] == 1 => avail_out[p.index()].clone().unwrap_or_default(),
            _ => Vec::new(),
        };
        for inst in &mut func.blocks[b.index()].insts {
            if let Inst::LoadField { dst, ptr, bit_offset, width, wire: false, .. } = *inst
                && let Some(&(_, _, _, earlier)) =
                    avail.iter().find(|(p, o, w, _)| *p == ptr && *o == bit_offset && *w == width)
                && earlier != dst
            {
                *inst = Inst::Copy { dst, src: earlier };
            }
            if let Some(d) = inst.def() {
                avail.retain(|(p, _, _, v)| *p != d && *v != d);
            }
            match *inst {
                Inst::LoadField { dst, ptr, bit_offset, width, wire: false, .. } if dst != ptr => {
                    avail.push((ptr, bit_offset, width, dst));
                }
                // The packet changed (a store, or a reshape's move and call).
                Inst::StoreField { .. } | Inst::Helper { .. } => avail.clear(),
                Inst::MemStore { ptr, .. } if packet[ptr.index()] => avail.clear(),
                _ => {}
            }
        }
        avail_out[b.index()] = Some(avail);
    }
}

/// How a value may be used for it to stay in wire form.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum WireUse {
    /// `== C` or `!= C` (with `C`) or `& C != 0` (`None`) in a branch.
    Compare(Option<u64>),
    /// `dst = value & C`, where `dst` is itself only compared.
    Mask(VarId),
    Other,
}

/// Compare header fields in network byte order, as hand-written C does
/// (`eth->h_proto == htons(ETH_P_IP)`, `(iph->saddr & htonl(M)) == htonl(N)`):
/// when a loaded field is only compared with constants, possibly after
/// masking with a constant, load its window without the byte swap or shift
/// and convert the constants instead.
pub fn wire_order_compares(func: &mut Function) {
    let n = func.vars.len();
    let mut n_defs = vec![0u32; n];
    let mut uses: Vec<Vec<WireUse>> = vec![Vec::new(); n];
    for block in &func.blocks {
        for inst in &block.insts {
            if let Some(d) = inst.def() {
                n_defs[d.index()] += 1;
            }
            match *inst {
                Inst::Alu { op: crate::ir::AluOp::And, dst, lhs, rhs: Operand::Imm(_), .. } if dst != lhs => {
                    uses[lhs.index()].push(WireUse::Mask(dst));
                }
                _ => {
                    for u in inst.uses() {
                        uses[u.index()].push(WireUse::Other);
                    }
                }
            }
        }
        match block.term {
            Term::Branch { op: CmpOp::Eq | CmpOp::Ne, lhs, rhs: Operand::Imm(c), .. } => {
                uses[lhs.index()].push(WireUse::Compare(Some(c)));
            }
            Term::Branch { op: CmpOp::Set, lhs, rhs: Operand::Imm(_), .. } => {
                uses[lhs.index()].push(WireUse::Compare(None));
            }
            _ => {
                for u in block.term.uses() {
                    uses[u.index()].push(WireUse::Other);
                }
            }
        }
    }
    // An equality constant with bits outside the field (possible after a
    // widening cast) would be cut by the conversion and could then match;
    // such a value keeps its ordinary form.
    let fits = |u: &WireUse, width: u32| match u {
        WireUse::Compare(Some(c)) => width >= 64 || *c >> width == 0,
        WireUse::Compare(None) => true,
        WireUse::Mask(_) | WireUse::Other => false,
    };
    let only_compared = |v: VarId, width: u32| n_defs[v.index()] == 1 && uses[v.index()].iter().all(|u| fits(u, width));
    // Variables to convert: (var, window, bit offset, width).
    let mut convert: Vec<Option<(crate::ir::Window, u32, u32)>> = vec![None; n];
    for block in &mut func.blocks {
        for inst in &mut block.insts {
            let Inst::LoadField { dst, hdr_len, bit_offset, width, wire, .. } = inst else { continue };
            let Some(w) = crate::ir::window(*hdr_len, *bit_offset, *width) else { continue };
            let eligible = w.len > 1
                && n_defs[dst.index()] == 1
                && !uses[dst.index()].is_empty()
                && uses[dst.index()].iter().all(|u| match u {
                    WireUse::Compare(_) => fits(u, *width),
                    WireUse::Mask(m) => only_compared(*m, *width),
                    WireUse::Other => false,
                });
            if eligible {
                *wire = true;
                convert[dst.index()] = Some((w, *bit_offset, *width));
                for u in &uses[dst.index()] {
                    if let WireUse::Mask(m) = u {
                        convert[m.index()] = Some((w, *bit_offset, *width));
                    }
                }
            }
        }
    }
    let conv = |v: VarId, c: u64| convert[v.index()].map(|(w, o, wd)| (crate::ir::wire_const(w, o, wd, c), w.len * 8));
    for block in &mut func.blocks {
        for inst in &mut block.insts {
            if let Inst::Alu { op: crate::ir::AluOp::And, dst, lhs, rhs: Operand::Imm(c), width } = inst
                && convert[dst.index()].is_some()
                && let Some((wc, bits)) = conv(*lhs, *c)
            {
                *c = wc;
                *width = bits;
            }
        }
        if let Term::Branch { lhs, rhs: Operand::Imm(c), width, .. } = &mut block.term
            && let Some((wc, bits)) = conv(*lhs, *c)
        {
            *c = wc;
            *width = bits;
        }
    }
}

/// Drop the setting of flag bits nothing tests. A variable used only as
/// `v |= C` (on itself) and in `if v & C` branches is a set of flags; an
/// `|=` of bits no branch tests does nothing and goes, as does the `|=`
/// entirely when none of its bits are read (e.g. `ethernet.valid` in a
/// program that never asks).
pub fn unread_flag_bits(func: &mut Function) {
    let (is_flags, read) = flag_vars(func);
    for block in &mut func.blocks {
        let mut keep = Vec::with_capacity(block.insts.len());
        for inst in &mut block.insts {
            let mut k = true;
            if let Inst::Alu { op: crate::ir::AluOp::Or, dst, rhs: Operand::Imm(m), .. } = inst
                && is_flags[dst.index()]
            {
                *m &= read[dst.index()];
                k = *m != 0;
            }
            keep.push(k);
        }
        let mut it = keep.iter();
        block.insts.retain(|_| it.next().copied().unwrap_or(true));
        let mut it = keep.iter();
        block.spans.retain(|_| it.next().copied().unwrap_or(true));
    }
}

/// Variables used only as flag words (`v = C`, `v |= C`, `v &= C` where a
/// header is removed, `if v & C`), and
/// for each the bits some branch tests.
pub(crate) fn flag_vars(func: &Function) -> (Vec<bool>, Vec<u64>) {
    let n = func.vars.len();
    let mut read = vec![0u64; n];
    let mut is_flags = vec![true; n];
    for block in &func.blocks {
        for inst in &block.insts {
            match *inst {
                Inst::Alu { op: crate::ir::AluOp::Or | crate::ir::AluOp::And, dst, lhs, rhs: Operand::Imm(_), .. }
                    if dst == lhs => {}
                Inst::Const { .. } => {}
                _ => {
                    for u in inst.uses() {
                        is_flags[u.index()] = false;
                    }
                    if let Some(d) = inst.def() {
                        is_flags[d.index()] = false;
                    }
                }
            }
        }
        match block.term {
            Term::Branch { op: CmpOp::Set, lhs, rhs: Operand::Imm(m), .. } => read[lhs.index()] |= m,
            _ => {
                for u in block.term.uses() {
                    is_flags[u.index()] = false;
                }
            }
        }
    }
    (is_flags, read)
}

/// Thread flag tests: where the bits a successor tests are known at the
/// end of a block and that successor is an empty block that only tests the
/// flag word, jump straight to the side the test would take, with no code
/// copied. Bits are tracked one by one (known mask, value): where paths
/// merge (TCP after IPv4 or IPv6) the bits they agree on stay known, so
/// `ipv4.valid` after a join of IPv4 paths is still decided.
pub fn thread_flag_tests(func: &mut Function) {
    let (is_flags, _) = flag_vars(func);
    let flags: Vec<VarId> = (0..func.vars.len() as u32).map(VarId).filter(|v| is_flags[v.index()]).collect();
    if flags.is_empty() {
        return;
    }
    // Known bits `(mask, value)` of each flag word at the end of each
    // block, forward in reverse post-order (loops start unknown).
    let order = func.reverse_postorder();
    let mut preds: Vec<Vec<BlockId>> = vec![Vec::new(); func.blocks.len()];
    for &b in &order {
        for s in func.block(b).term.successors() {
            preds[s.index()].push(b);
        }
    }
    const UNKNOWN: (u64, u64) = (0, 0);
    let mut out: Vec<Option<Vec<(u64, u64)>>> = vec![None; func.blocks.len()];
    for &b in &order {
        // A predecessor not seen yet is a loop's back edge: know nothing.
        let back_edge = preds[b.index()].iter().any(|p| out[p.index()].is_none());
        let mut state: Vec<(u64, u64)> = if b == func.entry || back_edge {
            vec![UNKNOWN; flags.len()]
        } else {
            let mut it = preds[b.index()].iter().filter_map(|p| out[p.index()].as_ref());
            let first = it.next().cloned().unwrap_or_else(|| vec![UNKNOWN; flags.len()]);
            // A bit stays known where every path knows it, with one value.
            it.fold(first, |acc, o| {
                acc.iter()
                    .zip(o)
                    .map(|(&(ma, va), &(mb, vb))| {
                        let mask = ma & mb & !(va ^ vb);
                        (mask, va & mask)
                    })
                    .collect()
            })
        };
        for inst in &func.block(b).insts {
            match *inst {
                Inst::Const { dst, value } => {
                    if let Some(i) = flags.iter().position(|f| *f == dst) {
                        state[i] = (u64::MAX, value);
                    }
                }
                Inst::Alu { op: crate::ir::AluOp::Or, dst, rhs: Operand::Imm(m), .. } => {
                    if let Some(i) = flags.iter().position(|f| *f == dst) {
                        let (mask, value) = state[i];
                        state[i] = (mask | m, value | m);
                    }
                }
                Inst::Alu { op: crate::ir::AluOp::And, dst, rhs: Operand::Imm(m), .. } => {
                    if let Some(i) = flags.iter().position(|f| *f == dst) {
                        let (mask, value) = state[i];
                        state[i] = (mask | !m, value & m);
                    }
                }
                _ => {}
            }
        }
        out[b.index()] = Some(state);
    }
    // Retarget edges into empty flag tests whose outcome is known.
    let decide = |func: &Function, state: &[(u64, u64)], mut b: BlockId| {
        for _ in 0..func.blocks.len() {
            let block = func.block(b);
            let Term::Branch { op: CmpOp::Set, lhs, rhs: Operand::Imm(m), then_bb, else_bb, .. } = block.term else {
                break;
            };
            let Some(&(mask, value)) = flags.iter().position(|f| *f == lhs).map(|i| &state[i]) else { break };
            // `lhs & m != 0`: true when one tested bit is known set, false
            // when every tested bit is known clear.
            let outcome = if value & m & mask != 0 {
                Some(true)
            } else if m & mask == m {
                Some(false)
            } else {
                None
            };
            match (block.insts.is_empty(), outcome) {
                (true, Some(taken)) => b = if taken { then_bb } else { else_bb },
                _ => break,
            }
        }
        b
    };
    for &b in &order {
        let Some(state) = out[b.index()].clone() else { continue };
        let new: Vec<BlockId> = func.block(b).term.successors().into_iter().map(|s| decide(func, &state, s)).collect();
        for (slot, t) in func.blocks[b.index()].term.successors_mut().into_iter().zip(new) {
            *slot = t;
        }
    }
}
