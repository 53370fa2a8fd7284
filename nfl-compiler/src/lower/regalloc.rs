//! Linear-scan register allocation over the machine IR.
//!
//! 1. Number instructions in block order: instruction `k` reads at slot
//!    `2k` and writes at slot `2k + 1`.
//! 2. Block-level liveness gives each virtual register one interval
//!    `[first slot, last slot]` (conservative, never split).
//! 3. Physical registers the code names directly (`r1` on entry, helper
//!    arguments, `r0`, and `r0`–`r5` clobbered by a call) block their slots;
//!    an interval may only take a register none of its slots are blocked in.
//! 4. Intervals are assigned in start order; when no register is free, the
//!    interval (active or new) that ends last is spilled to an 8-byte stack
//!    slot for its whole life. Spill slots are reused once their interval
//!    ends.
//! 5. If anything spilled, allocation reruns without `r0` and `r5`, which
//!    then serve as scratch registers for reloads and stores around each
//!    instruction that touches a spilled register.
//!
//! Spills are always 64-bit and 8-byte aligned, so the verifier keeps the
//! type of a spilled pointer (packet pointers included) and its bounds.

use std::collections::{HashMap, HashSet};

use super::mir::{MFunc, MInsn, MTerm, Reg};
use crate::bpf::insn::*;

/// Registers available to allocation, in order of preference. `r10` is the
/// read-only frame pointer.
const ALL_REGS: [u8; 10] = [1, 2, 3, 4, 5, 0, 6, 7, 8, 9];
const SCRATCH: [u8; 2] = [0, 5];
const MAX_STACK: u32 = 512;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// Spills would need more than the verifier's 512-byte stack.
    StackOverflow { needed: u32 },
}

#[derive(Clone, Copy, Debug)]
struct Interval {
    vreg: u32,
    start: u32,
    end: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loc {
    Reg(u8),
    Stack(i16),
}

/// Statistics a caller may report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocStats {
    pub n_vregs: u32,
    pub n_spilled: u32,
    pub stack_bytes: u32,
}

struct Numbering {
    /// First and last slot of each block.
    block_start: Vec<u32>,
    block_end: Vec<u32>,
}

fn number(mf: &MFunc) -> Numbering {
    let mut k = 0u32;
    let mut block_start = Vec::new();
    let mut block_end = Vec::new();
    for b in &mf.blocks {
        block_start.push(2 * k);
        k += b.insts.len() as u32 + 1; // + the terminator
        block_end.push(2 * k - 1);
    }
    Numbering { block_start, block_end }
}

fn virt(r: Reg) -> Option<u32> {
    match r {
        Reg::Virt(v) => Some(v),
        Reg::Phys(_) => None,
    }
}

fn live_in_sets(mf: &MFunc) -> Vec<HashSet<u32>> {
    let n = mf.blocks.len();
    let mut gen_: Vec<HashSet<u32>> = vec![HashSet::new(); n];
    let mut kill: Vec<HashSet<u32>> = vec![HashSet::new(); n];
    for (i, b) in mf.blocks.iter().enumerate() {
        let uses_of = |insn_uses: Vec<Reg>, kill: &HashSet<u32>, gen_: &mut HashSet<u32>| {
            for v in insn_uses.into_iter().filter_map(virt) {
                if !kill.contains(&v) {
                    gen_.insert(v);
                }
            }
        };
        for insn in &b.insts {
            uses_of(insn.uses(), &kill[i], &mut gen_[i]);
            for v in insn.defs().into_iter().filter_map(virt) {
                kill[i].insert(v);
            }
        }
        uses_of(b.term.uses(), &kill[i], &mut gen_[i]);
    }
    let mut live_in: Vec<HashSet<u32>> = vec![HashSet::new(); n];
    let mut changed = true;
    while changed {
        changed = false;
        for i in (0..n).rev() {
            let mut set: HashSet<u32> = HashSet::new();
            for s in mf.blocks[i].term.successors() {
                if let Some(li) = live_in.get(s) {
                    set.extend(li.iter().copied());
                }
            }
            set.retain(|v| !kill[i].contains(v));
            set.extend(gen_[i].iter().copied());
            if set != live_in[i] {
                live_in[i] = set;
                changed = true;
            }
        }
    }
    live_in
}

/// Intervals of every virtual register, blocked slots of every physical
/// register, and allocation hints from moves.
struct Analysis {
    intervals: Vec<Interval>,
    blocked: [Vec<u32>; 11],
    hints: HashMap<u32, Vec<Reg>>,
}

fn analyse(mf: &MFunc) -> Analysis {
    let num = number(mf);
    let live_in = live_in_sets(mf);
    let mut range: HashMap<u32, (u32, u32)> = HashMap::new();
    let mut extend = |v: u32, slot: u32| {
        let e = range.entry(v).or_insert((slot, slot));
        e.0 = e.0.min(slot);
        e.1 = e.1.max(slot);
    };
    let mut blocked: [Vec<u32>; 11] = Default::default();
    let mut hints: HashMap<u32, Vec<Reg>> = HashMap::new();
    let mut k = 0u32;
    for (i, b) in mf.blocks.iter().enumerate() {
        for &v in &live_in[i] {
            extend(v, num.block_start[i]);
        }
        for s in b.term.successors() {
            for &v in live_in.get(s).into_iter().flatten() {
                extend(v, num.block_end[i]);
            }
        }
        for insn in &b.insts {
            for r in insn.uses() {
                match r {
                    Reg::Virt(v) => extend(v, 2 * k),
                    Reg::Phys(p) => blocked[p as usize].push(2 * k),
                }
            }
            for r in insn.defs() {
                match r {
                    Reg::Virt(v) => extend(v, 2 * k + 1),
                    Reg::Phys(p) => blocked[p as usize].push(2 * k + 1),
                }
            }
            if insn.is_move() {
                if let Reg::Virt(d) = insn.dst {
                    hints.entry(d).or_default().push(insn.src);
                }
                if let (Reg::Phys(_), Reg::Virt(s)) = (insn.dst, insn.src) {
                    hints.entry(s).or_default().push(insn.dst);
                }
            }
            k += 1;
        }
        for r in b.term.uses() {
            if let Reg::Virt(v) = r {
                extend(v, 2 * k);
            }
        }
        k += 1;
    }
    let mut intervals: Vec<Interval> =
        range.into_iter().map(|(vreg, (start, end))| Interval { vreg, start, end }).collect();
    intervals.sort_by_key(|iv| (iv.start, iv.vreg));
    for b in &mut blocked {
        b.sort_unstable();
    }
    Analysis { intervals, blocked, hints }
}

fn is_blocked(blocked: &[u32], start: u32, end: u32) -> bool {
    let i = blocked.partition_point(|&s| s < start);
    blocked.get(i).is_some_and(|&s| s <= end)
}

/// Assign each interval a register or a stack slot.
fn assign(an: &Analysis, regs: &[u8], base: u32) -> (HashMap<u32, Loc>, u32, u32) {
    let mut loc: HashMap<u32, Loc> = HashMap::new();
    let mut end_of: HashMap<u32, u32> = HashMap::new();
    // Active intervals holding a register: (vreg, reg).
    let mut active: Vec<(u32, u8)> = Vec::new();
    let mut spilled: Vec<Interval> = Vec::new();
    for iv in &an.intervals {
        end_of.insert(iv.vreg, iv.end);
        active.retain(|(v, _)| end_of.get(v).is_some_and(|&e| e >= iv.start));
        let usable = |r: u8| !is_blocked(&an.blocked[r as usize], iv.start, iv.end);
        let free = |r: u8, active: &[(u32, u8)]| active.iter().all(|&(_, ar)| ar != r) && usable(r);
        let hinted = an.hints.get(&iv.vreg).into_iter().flatten().find_map(|h| {
            let r = match *h {
                Reg::Phys(p) => p,
                Reg::Virt(u) => match loc.get(&u) {
                    Some(Loc::Reg(r)) => *r,
                    _ => return None,
                },
            };
            (regs.contains(&r) && free(r, &active)).then_some(r)
        });
        let choice = hinted.or_else(|| regs.iter().copied().find(|&r| free(r, &active)));
        if let Some(r) = choice {
            loc.insert(iv.vreg, Loc::Reg(r));
            active.push((iv.vreg, r));
            continue;
        }
        // Spill whichever interval ends last among those whose register
        // this interval could use.
        let victim = active
            .iter()
            .enumerate()
            .filter(|(_, (_, r))| usable(*r))
            .max_by_key(|(_, (v, _))| end_of.get(v).copied().unwrap_or(0));
        match victim {
            Some((idx, &(v, r))) if end_of.get(&v).copied().unwrap_or(0) > iv.end => {
                active.remove(idx);
                if let Some(viv) = an.intervals.iter().find(|x| x.vreg == v) {
                    spilled.push(*viv);
                }
                loc.insert(iv.vreg, Loc::Reg(r));
                active.push((iv.vreg, r));
            }
            _ => spilled.push(*iv),
        }
    }
    // Stack slots, reused once an interval has ended.
    spilled.sort_by_key(|iv| (iv.start, iv.vreg));
    let mut slot_free_at: Vec<u32> = Vec::new();
    for iv in &spilled {
        let slot = match slot_free_at.iter().position(|&e| e < iv.start) {
            Some(s) => s,
            None => {
                slot_free_at.push(0);
                slot_free_at.len() - 1
            }
        };
        slot_free_at[slot] = iv.end;
        loc.insert(iv.vreg, Loc::Stack(-(base as i16) - 8 * (slot as i16 + 1)));
    }
    (loc, spilled.len() as u32, slot_free_at.len() as u32 * 8)
}

/// Allocate registers; returns the rewritten function and statistics.
pub fn allocate(mut mf: MFunc) -> Result<(MFunc, AllocStats), AllocError> {
    let an = analyse(&mf);
    let base = mf.stack_size;
    let (mut loc, mut n_spilled, mut stack) = assign(&an, &ALL_REGS, base);
    if n_spilled > 0 {
        let regs: Vec<u8> = ALL_REGS.iter().copied().filter(|r| !SCRATCH.contains(r)).collect();
        (loc, n_spilled, stack) = assign(&an, &regs, base);
    }
    let stack_bytes = mf.stack_size + stack;
    if stack_bytes > MAX_STACK {
        return Err(AllocError::StackOverflow { needed: stack_bytes });
    }
    for block in &mut mf.blocks {
        let mut out = Vec::with_capacity(block.insts.len());
        for insn in &block.insts {
            rewrite(insn, &loc, &mut out);
        }
        if let MTerm::Cond { dst, src, code, span, .. } = &mut block.term {
            let mut scratch = SCRATCH.iter().copied();
            for r in [dst, src] {
                if let Reg::Virt(v) = *r {
                    *r = match loc.get(&v) {
                        Some(Loc::Reg(p)) => Reg::Phys(*p),
                        Some(Loc::Stack(off)) => {
                            let s = scratch.next().unwrap_or(0);
                            out.push(MInsn::new(BPF_LDX | BPF_DW | BPF_MEM, Reg::Phys(s), Reg::Phys(R10), *off, 0, *span));
                            Reg::Phys(s)
                        }
                        None => Reg::Phys(0),
                    };
                }
                if *code & BPF_X == 0 {
                    break;
                }
            }
        }
        block.insts = out;
    }
    mf.stack_size = stack_bytes;
    let stats = AllocStats { n_vregs: mf.n_vregs, n_spilled, stack_bytes };
    Ok((mf, stats))
}

/// Rewrite one instruction onto physical registers, with reloads and
/// stores for spilled operands.
fn rewrite(insn: &MInsn, loc: &HashMap<u32, Loc>, out: &mut Vec<MInsn>) {
    let at = |r: Reg| match r {
        Reg::Virt(v) => loc.get(&v).copied(),
        Reg::Phys(p) => Some(Loc::Reg(p)),
    };
    let fp = Reg::Phys(R10);
    let span = insn.span;
    let load = |out: &mut Vec<MInsn>, dst: u8, off: i16| {
        out.push(MInsn::new(BPF_LDX | BPF_DW | BPF_MEM, Reg::Phys(dst), fp, off, 0, span));
    };
    let store = |out: &mut Vec<MInsn>, src: u8, off: i16| {
        out.push(MInsn::new(BPF_STX | BPF_DW | BPF_MEM, fp, Reg::Phys(src), off, 0, span));
    };
    // Plain moves to or from a spilled register become one load or store.
    if insn.is_move() {
        match (at(insn.dst), at(insn.src)) {
            (Some(Loc::Reg(d)), Some(Loc::Reg(s))) => {
                if d != s {
                    out.push(MInsn { dst: Reg::Phys(d), src: Reg::Phys(s), ..*insn });
                }
            }
            (Some(Loc::Reg(d)), Some(Loc::Stack(off))) => load(out, d, off),
            (Some(Loc::Stack(off)), Some(Loc::Reg(s))) => store(out, s, off),
            (Some(Loc::Stack(doff)), Some(Loc::Stack(soff))) => {
                load(out, SCRATCH[0], soff);
                store(out, SCRATCH[0], doff);
            }
            // An undefined source: nothing to copy.
            _ => {}
        }
        return;
    }
    let uses = insn.uses();
    let defs = insn.defs();
    let mut scratch_of: HashMap<u32, u8> = HashMap::new();
    let mut next_scratch = SCRATCH.iter().copied();
    let mut map = |r: Reg, out: &mut Vec<MInsn>, is_use: bool| -> Reg {
        let Reg::Virt(v) = r else { return r };
        match loc.get(&v) {
            Some(Loc::Reg(p)) => Reg::Phys(*p),
            Some(Loc::Stack(off)) => {
                let s = *scratch_of.entry(v).or_insert_with(|| next_scratch.next().unwrap_or(0));
                if is_use {
                    load(out, s, *off);
                }
                Reg::Phys(s)
            }
            None => Reg::Phys(0),
        }
    };
    let mut new = *insn;
    // Reload used operands first (in order), then map the destination.
    let dst_used = uses.contains(&insn.dst);
    let src_used = uses.contains(&insn.src);
    if dst_used {
        new.dst = map(insn.dst, out, true);
    }
    if src_used {
        new.src = map(insn.src, out, true);
    }
    if !dst_used {
        new.dst = map(insn.dst, out, false);
    }
    if !src_used {
        new.src = map(insn.src, out, false);
    }
    out.push(new);
    for d in defs {
        if let Reg::Virt(v) = d
            && let Some(Loc::Stack(off)) = loc.get(&v)
        {
            let s = scratch_of.get(&v).copied().unwrap_or(SCRATCH[0]);
            store(out, s, *off);
        }
    }
}
