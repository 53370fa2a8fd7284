//! Machine IR: eBPF instructions over virtual and physical registers,
//! grouped in blocks. Register allocation turns every `Reg::Virt` into a
//! `Reg::Phys`; emission then lays the blocks out and resolves jumps.

use nfl_syntax::ast::Span;

use crate::bpf::insn::*;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Reg {
    Phys(u8),
    Virt(u32),
}

/// `code`, `dst`, `src`, `off` as in [`Insn`]; `imm` is 64-bit so that
/// `LD_IMM64` is one instruction here.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MInsn {
    pub code: u8,
    pub dst: Reg,
    pub src: Reg,
    pub off: i16,
    pub imm: i64,
    pub span: Span,
}

const R0: Reg = Reg::Phys(0);

impl MInsn {
    pub fn new(code: u8, dst: Reg, src: Reg, off: i16, imm: i64, span: Span) -> MInsn {
        MInsn { code, dst, src, off, imm, span }
    }

    pub fn class(&self) -> u8 {
        self.code & 0x07
    }

    pub fn is_call(&self) -> bool {
        self.code == BPF_JMP | BPF_CALL
    }

    pub fn is_exit(&self) -> bool {
        self.code == BPF_JMP | BPF_EXIT
    }

    pub fn is_ld_imm64(&self) -> bool {
        self.code == BPF_LD | BPF_DW | BPF_IMM
    }

    /// Number of 8-byte slots when encoded.
    pub fn slots(&self) -> usize {
        if self.is_ld_imm64() { 2 } else { 1 }
    }

    fn alu_op(&self) -> u8 {
        self.code & 0xf0
    }

    fn uses_src_reg(&self) -> bool {
        self.code & BPF_X != 0
    }

    /// Registers read, in order.
    pub fn uses(&self) -> Vec<Reg> {
        match self.class() {
            BPF_ALU | BPF_ALU64 => {
                let mut v = Vec::new();
                if self.alu_op() != BPF_MOV {
                    v.push(self.dst);
                }
                if self.uses_src_reg() && self.alu_op() != BPF_NEG && self.alu_op() != BPF_END {
                    v.push(self.src);
                }
                v
            }
            BPF_LDX => vec![self.src],
            BPF_ST => vec![self.dst],
            BPF_STX => vec![self.dst, self.src],
            BPF_LD => vec![],
            BPF_JMP | BPF_JMP32 => {
                if self.is_call() {
                    (1..=5).map(Reg::Phys).collect()
                } else if self.is_exit() {
                    vec![R0]
                } else {
                    let mut v = vec![self.dst];
                    if self.uses_src_reg() {
                        v.push(self.src);
                    }
                    v
                }
            }
            _ => vec![],
        }
    }

    /// Registers written.
    pub fn defs(&self) -> Vec<Reg> {
        match self.class() {
            BPF_ALU | BPF_ALU64 | BPF_LDX | BPF_LD => vec![self.dst],
            BPF_JMP if self.is_call() => (0..=5).map(Reg::Phys).collect(),
            _ => vec![],
        }
    }

    /// A plain 64-bit register copy `dst = src`.
    pub fn is_move(&self) -> bool {
        self.code == BPF_ALU64 | BPF_MOV | BPF_X
    }
}

/// How a block ends.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MTerm {
    Jump(usize),
    /// `if dst <op> (src|imm) goto taken else not_taken`; `code` is the full
    /// jump opcode (class, operation, source flag).
    Cond { code: u8, dst: Reg, src: Reg, imm: i32, taken: usize, not_taken: usize, span: Span },
    /// The block's last instruction is `exit` (or the program ends).
    Exit,
}

impl MTerm {
    pub fn uses(&self) -> Vec<Reg> {
        match self {
            MTerm::Cond { code, dst, src, .. } if code & BPF_X != 0 => vec![*dst, *src],
            MTerm::Cond { dst, .. } => vec![*dst],
            MTerm::Jump(_) | MTerm::Exit => vec![],
        }
    }

    pub fn successors(&self) -> Vec<usize> {
        match self {
            MTerm::Jump(b) => vec![*b],
            MTerm::Cond { taken, not_taken, .. } => vec![*taken, *not_taken],
            MTerm::Exit => vec![],
        }
    }
}

#[derive(Clone, Debug)]
pub struct MBlock {
    pub insts: Vec<MInsn>,
    pub term: MTerm,
}

#[derive(Clone, Debug)]
pub struct MFunc {
    pub blocks: Vec<MBlock>,
    pub n_vregs: u32,
    /// Bytes of stack used by the lowering itself (none today; spill slots
    /// are added by register allocation).
    pub stack_size: u32,
}
