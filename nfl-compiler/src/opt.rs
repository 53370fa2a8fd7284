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
                Inst::StoreField { .. } => avail.clear(),
                _ => {}
            }
        }
        avail_out[b.index()] = Some(avail);
    }
}

/// Byte-swap the low `width` bits of `v` (16, 32 or 64).
fn swap(v: u64, width: u32) -> u64 {
    match width {
        16 => u64::from((v as u16).swap_bytes()),
        32 => u64::from((v as u32).swap_bytes()),
        _ => v.swap_bytes(),
    }
}

/// Compare whole, byte-aligned 16/32/64-bit fields in network byte order,
/// as hand-written C does (`eth->h_proto == htons(ETH_P_IP)`): when every
/// use of a loaded field is an `==`/`!=` against a constant, load it without
/// the byte swap and swap the constants instead.
pub fn wire_order_compares(func: &mut Function) {
    let n = func.vars.len();
    let mut n_defs = vec![0u32; n];
    let mut other_use = vec![false; n];
    for block in &func.blocks {
        for inst in &block.insts {
            if let Some(d) = inst.def() {
                n_defs[d.index()] += 1;
            }
            for u in inst.uses() {
                other_use[u.index()] = true;
            }
        }
        match block.term {
            Term::Branch { op: CmpOp::Eq | CmpOp::Ne, rhs: Operand::Imm(_), .. } => {}
            _ => {
                for u in block.term.uses() {
                    other_use[u.index()] = true;
                }
            }
        }
    }
    let mut swapped: Vec<Option<u32>> = vec![None; n];
    for block in &mut func.blocks {
        for inst in &mut block.insts {
            if let Inst::LoadField { dst, bit_offset, width, wire, .. } = inst
                && *bit_offset % 8 == 0
                && matches!(*width, 16 | 32 | 64)
                && n_defs[dst.index()] == 1
                && !other_use[dst.index()]
            {
                *wire = true;
                swapped[dst.index()] = Some(*width);
            }
        }
    }
    for block in &mut func.blocks {
        if let Term::Branch { lhs, rhs: Operand::Imm(v), .. } = &mut block.term
            && let Some(width) = swapped[lhs.index()]
        {
            *v = swap(*v, width);
        }
    }
}
