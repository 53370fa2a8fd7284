//! Lay out allocated blocks and resolve jumps into final instructions.

use nfl_syntax::ast::Span;

use super::mir::{MFunc, MTerm, Reg};
use crate::bpf::Insn;
use crate::bpf::insn::*;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmitError {
    /// A virtual register survived allocation (a compiler bug).
    Unallocated,
    /// A jump distance does not fit the 16-bit offset.
    JumpTooFar,
}

/// The program's instructions and, per instruction slot, where it came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Emitted {
    pub insns: Vec<Insn>,
    /// `(first instruction slot, span)` each time the source span changes.
    pub lines: Vec<(usize, Span)>,
    /// `(instruction slot, map index)` of each `LD_IMM64` of a map.
    pub map_refs: Vec<(usize, u32)>,
    /// Slots of kfunc calls, with their [`crate::ir::Kcall`].
    pub kfunc_refs: Vec<(usize, crate::ir::Kcall)>,
    /// Slots of `LD_IMM64`s of the `less` callback's address.
    pub func_refs: Vec<usize>,
    /// Slots of `LD_IMM64`s of the node type's id.
    pub type_id_refs: Vec<usize>,
}

fn phys(r: Reg) -> Result<u8, EmitError> {
    match r {
        Reg::Phys(p) => Ok(p),
        Reg::Virt(_) => Err(EmitError::Unallocated),
    }
}

/// The jump with the opposite condition, where one exists.
fn invert(code: u8) -> Option<u8> {
    let op = code & 0xf0;
    let inv = match op {
        BPF_JEQ => BPF_JNE,
        BPF_JNE => BPF_JEQ,
        BPF_JGT => BPF_JLE,
        BPF_JLE => BPF_JGT,
        BPF_JGE => BPF_JLT,
        BPF_JLT => BPF_JGE,
        BPF_JSGT => BPF_JSLE,
        BPF_JSLE => BPF_JSGT,
        BPF_JSGE => BPF_JSLT,
        BPF_JSLT => BPF_JSGE,
        _ => return None,
    };
    Some((code & 0x0f) | inv)
}

/// One jump to patch: the instruction slot and its target block.
struct Fixup {
    slot: usize,
    target: usize,
}

pub fn emit(mf: &MFunc) -> Result<Emitted, EmitError> {
    let mut out = Emitted::default();
    let mut block_slot = vec![0usize; mf.blocks.len()];
    let mut fixups = Vec::new();
    let mut last_span: Option<Span> = None;
    let mut note = |out: &mut Emitted, span: Span| {
        if last_span != Some(span) {
            out.lines.push((out.insns.len(), span));
            last_span = Some(span);
        }
    };
    for (bi, block) in mf.blocks.iter().enumerate() {
        block_slot[bi] = out.insns.len();
        for m in &block.insts {
            note(&mut out, m.span);
            let (dst, src) = (phys(m.dst)?, phys(m.src)?);
            if m.is_ld_imm64() {
                let mut src = src;
                if src == BPF_PSEUDO_MAP_FD {
                    out.map_refs.push((out.insns.len(), m.imm as u32));
                } else if src == crate::bpf::disasm::BPF_PSEUDO_FUNC {
                    out.func_refs.push(out.insns.len());
                } else if src == super::mem::TYPE_ID_MARK {
                    out.type_id_refs.push(out.insns.len());
                    src = 0;
                }
                let [lo, hi] = Insn::ld_imm64(dst, m.imm as u64);
                out.insns.push(Insn { src, ..lo });
                out.insns.push(hi);
            } else {
                if m.is_call() && src == BPF_PSEUDO_KFUNC_CALL {
                    let k = crate::ir::Kcall::ALL.get(m.imm as usize).copied().unwrap_or(crate::ir::Kcall::ObjNew);
                    out.kfunc_refs.push((out.insns.len(), k));
                }
                out.insns.push(Insn::new(m.code, dst, src, m.off, m.imm as i32));
            }
        }
        let next = bi + 1;
        match block.term {
            MTerm::Exit => {}
            MTerm::Jump(t) if t == next => {}
            MTerm::Jump(t) => {
                fixups.push(Fixup { slot: out.insns.len(), target: t });
                out.insns.push(Insn::ja(0));
            }
            MTerm::Cond { code, dst, src, imm, taken, not_taken, span } => {
                note(&mut out, span);
                let (dst, src) = (phys(dst)?, phys(src)?);
                let (code, target, other) = match invert(code) {
                    Some(inv) if taken == next => (inv, not_taken, taken),
                    _ => (code, taken, not_taken),
                };
                fixups.push(Fixup { slot: out.insns.len(), target });
                out.insns.push(Insn::new(code, dst, src, 0, imm));
                if other != next {
                    fixups.push(Fixup { slot: out.insns.len(), target: other });
                    out.insns.push(Insn::ja(0));
                }
            }
        }
    }
    for f in fixups {
        let target = block_slot.get(f.target).copied().ok_or(EmitError::JumpTooFar)?;
        let rel = target as i64 - f.slot as i64 - 1;
        let off = i16::try_from(rel).map_err(|_| EmitError::JumpTooFar)?;
        if let Some(insn) = out.insns.get_mut(f.slot) {
            insn.off = off;
        }
    }
    Ok(out)
}
