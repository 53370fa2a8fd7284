//! The distinct values of the flag words (header validity bits,
//! `pkt.rejected`) that reach each block, path by path: the verifier keeps
//! paths with different bits apart, since the control branches on them.
//! The builder only ever sets a flag word to a constant or ORs a constant
//! into it (`opt::flag_vars`), so the values are exact; a branch on a bit
//! (`JSET`) sends each value down the side it takes.

use std::collections::BTreeSet;

use crate::ir::{CmpOp, Function, Inst, Operand, Term};

/// More distinct values than this at one block count as this many.
const CAP: usize = 1 << 14;

/// Per IR block (indexed like the machine blocks lowering makes), how many
/// distinct flag-word values reach it (at least 1).
pub fn flag_states(func: &Function) -> Vec<u64> {
    let n = func.blocks.len();
    let (is_flag, _) = crate::opt::flag_vars(func);
    let slot: Vec<Option<usize>> = {
        let mut next = 0;
        is_flag.iter().map(|&f| f.then(|| { next += 1; next - 1 })).collect()
    };
    let width = slot.iter().flatten().count();
    let order = func.reverse_postorder();
    let mut rank = vec![usize::MAX; n];
    for (i, b) in order.iter().enumerate() {
        rank[b.index()] = i;
    }
    let mut sets: Vec<BTreeSet<Vec<u64>>> = vec![BTreeSet::new(); n];
    let mut full = vec![false; n];
    sets[func.entry.index()].insert(vec![0; width]);
    let mut out = vec![1u64; n];
    for &b in &order {
        let bi = b.index();
        let block = &func.blocks[bi];
        let values: Vec<Vec<u64>> = std::mem::take(&mut sets[bi])
            .into_iter()
            .map(|mut v| {
                block.insts.iter().for_each(|i| apply(i, &slot, &mut v));
                v
            })
            .collect();
        out[bi] = if full[bi] { CAP as u64 } else { values.len().max(1) as u64 };
        let test = match block.term {
            Term::Branch { op: CmpOp::Set, lhs, rhs: Operand::Imm(m), then_bb, else_bb, .. } => slot[lhs.index()].map(|w| (w, m, then_bb)).zip(Some(else_bb)),
            _ => None,
        };
        for s in block.term.successors() {
            let si = s.index();
            if rank[si] <= rank[bi] {
                continue;
            }
            full[si] |= full[bi];
            for v in &values {
                let keep = match test {
                    Some(((w, m, then_bb), else_bb)) if then_bb != else_bb => (v[w] & m != 0) == (s == then_bb),
                    _ => true,
                };
                if keep && sets[si].len() < CAP {
                    sets[si].insert(v.clone());
                } else if keep {
                    full[si] = true;
                }
            }
        }
    }
    out
}

/// The effect of one instruction on a flag-word value.
fn apply(inst: &Inst, slot: &[Option<usize>], v: &mut [u64]) {
    match *inst {
        Inst::Const { dst, value } => {
            if let Some(w) = slot[dst.index()] {
                v[w] = value;
            }
        }
        Inst::Alu { op: crate::ir::AluOp::Or, dst, rhs: Operand::Imm(m), .. } => {
            if let Some(w) = slot[dst.index()] {
                v[w] |= m;
            }
        }
        _ => {}
    }
}
