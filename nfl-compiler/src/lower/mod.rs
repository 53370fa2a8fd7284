//! IR to machine IR: verifier-aware instruction selection.
//!
//! Rules the verifier imposes and this module keeps:
//! - pointer arithmetic and pointer compares are 64-bit, register to
//!   register, never `JMP32`;
//! - packet loads and stores use constant offsets from a header pointer that
//!   a bounds check covered;
//! - immediates that the ISA would sign-extend wrongly go through a register;
//! - a division by a constant zero never reaches the verifier.

pub mod emit;
mod field;
pub mod mem;
pub mod mir;
pub mod regalloc;

use nfl_syntax::ast::{Hook, Span};

use crate::bpf::insn::*;
use crate::ir::{AluOp, CmpOp, CtxField, Exit, Function, Inst, Operand, Term, VarId};
use mir::{MBlock, MFunc, MInsn, MTerm, Reg};

/// Helper id of `bpf_redirect`.
pub const HELPER_REDIRECT: i64 = 23;

pub(crate) struct Lower<'f> {
    func: &'f Function,
    buf_offsets: Vec<i16>,
    insts: Vec<MInsn>,
    next_vreg: u32,
    span: Span,
}

/// True if `v` survives the ISA's sign extension of a 32-bit immediate in a
/// 64-bit operation.
pub(crate) fn fits_simm32(v: u64) -> bool {
    v <= i32::MAX as u64 || v >= 0xffff_ffff_8000_0000
}

fn alu_code(op: AluOp) -> u8 {
    match op {
        AluOp::Add => BPF_ADD,
        AluOp::Sub => BPF_SUB,
        AluOp::Mul => BPF_MUL,
        AluOp::Div => BPF_DIV,
        AluOp::Mod => BPF_MOD,
        AluOp::And => BPF_AND,
        AluOp::Or => BPF_OR,
        AluOp::Xor => BPF_XOR,
        AluOp::Shl => BPF_LSH,
        AluOp::Shr => BPF_RSH,
    }
}

fn jmp_code(op: CmpOp) -> u8 {
    match op {
        CmpOp::Eq => BPF_JEQ,
        CmpOp::Ne => BPF_JNE,
        CmpOp::Lt => BPF_JLT,
        CmpOp::Le => BPF_JLE,
        CmpOp::Gt => BPF_JGT,
        CmpOp::Ge => BPF_JGE,
        CmpOp::Set => BPF_JSET,
    }
}

fn ctx_offset(hook: Hook, field: CtxField) -> i16 {
    match (hook, field) {
        (Hook::Xdp, CtxField::Data) => 0,
        (Hook::Xdp, CtxField::DataEnd) => 4,
        (Hook::Xdp, CtxField::Ifindex) => 12,
        // XDP has no length field; the builder computes it instead.
        (Hook::Xdp, CtxField::Len) => 0,
        (Hook::Tc, CtxField::Len) => 0,
        (Hook::Tc, CtxField::Ifindex) => 40,
        (Hook::Tc, CtxField::Data) => 76,
        (Hook::Tc, CtxField::DataEnd) => 80,
    }
}

/// Lower a function. Block `i` of the IR becomes block `i` of the result.
pub fn lower(func: &Function) -> MFunc {
    let (buf_offsets, buf_bytes) = mem::buf_layout(func);
    let mut l = Lower { func, buf_offsets, insts: Vec::new(), next_vreg: func.vars.len() as u32, span: Span::default() };
    let mut blocks = Vec::with_capacity(func.blocks.len());
    for (bi, block) in func.blocks.iter().enumerate() {
        if bi == func.entry.index() {
            // The context arrives in r1.
            l.span = block.spans.first().copied().unwrap_or(block.term_span);
            l.emit(BPF_ALU64 | BPF_MOV | BPF_X, l.var(func.ctx), Reg::Phys(1), 0, 0);
        }
        for (inst, span) in block.insts.iter().zip(&block.spans) {
            l.span = *span;
            l.inst(inst);
        }
        l.span = block.term_span;
        let term = l.term(&block.term);
        blocks.push(MBlock { insts: std::mem::take(&mut l.insts), term });
    }
    MFunc { blocks, n_vregs: l.next_vreg, stack_size: buf_bytes }
}

impl Lower<'_> {
    pub(crate) fn var(&self, v: VarId) -> Reg {
        Reg::Virt(v.0)
    }

    pub(crate) fn temp(&mut self) -> Reg {
        let r = Reg::Virt(self.next_vreg);
        self.next_vreg += 1;
        r
    }

    pub(crate) fn emit(&mut self, code: u8, dst: Reg, src: Reg, off: i16, imm: i64) {
        self.insts.push(MInsn::new(code, dst, src, off, imm, self.span));
    }

    pub(crate) fn mov(&mut self, dst: Reg, src: Reg) {
        if dst != src {
            self.emit(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
        }
    }

    /// `dst = value`, choosing the shortest encoding.
    pub(crate) fn mov_imm(&mut self, dst: Reg, value: u64) {
        if fits_simm32(value) {
            self.emit(BPF_ALU64 | BPF_MOV | BPF_K, dst, Reg::Phys(0), 0, value as i32 as i64);
        } else if value <= u64::from(u32::MAX) {
            // A 32-bit move zero-extends.
            self.emit(BPF_ALU | BPF_MOV | BPF_K, dst, Reg::Phys(0), 0, value as u32 as i32 as i64);
        } else {
            self.emit(BPF_LD | BPF_DW | BPF_IMM, dst, Reg::Phys(0), 0, value as i64);
        }
    }

    /// `dst op= rhs` at the given width (32-bit ALU when `width <= 32`).
    pub(crate) fn alu(&mut self, op: u8, dst: Reg, rhs: Operand, width: u32) {
        let class = if width <= 32 { BPF_ALU } else { BPF_ALU64 };
        match rhs {
            Operand::Var(v) => {
                let src = self.var(v);
                self.emit(class | op | BPF_X, dst, src, 0, 0);
            }
            Operand::Imm(i) if class == BPF_ALU => {
                self.emit(class | op | BPF_K, dst, Reg::Phys(0), 0, i as u32 as i32 as i64);
            }
            Operand::Imm(i) if fits_simm32(i) => {
                self.emit(class | op | BPF_K, dst, Reg::Phys(0), 0, i as i32 as i64);
            }
            Operand::Imm(i) => {
                let t = self.temp();
                self.mov_imm(t, i);
                self.emit(class | op | BPF_X, dst, t, 0, 0);
            }
        }
    }

    /// `dst &= 2^bits - 1`
    pub(crate) fn trunc(&mut self, dst: Reg, bits: u32) {
        match bits {
            64.. => {}
            32 => self.emit(BPF_ALU | BPF_MOV | BPF_X, dst, dst, 0, 0),
            1..32 => self.alu(BPF_AND, dst, Operand::Imm((1u64 << bits) - 1), 32),
            _ => {
                let sh = i64::from(64 - bits);
                self.emit(BPF_ALU64 | BPF_LSH | BPF_K, dst, Reg::Phys(0), 0, sh);
                self.emit(BPF_ALU64 | BPF_RSH | BPF_K, dst, Reg::Phys(0), 0, sh);
            }
        }
    }

    fn operand_to(&mut self, dst: Reg, o: Operand) {
        match o {
            Operand::Var(v) => {
                let src = self.var(v);
                self.mov(dst, src);
            }
            Operand::Imm(i) => self.mov_imm(dst, i),
        }
    }

    fn inst(&mut self, inst: &Inst) {
        match inst {
            Inst::Const { dst, value } => {
                let d = self.var(*dst);
                self.mov_imm(d, *value);
            }
            Inst::Copy { dst, src } => {
                let (d, s) = (self.var(*dst), self.var(*src));
                self.mov(d, s);
            }
            Inst::Alu { op, dst, lhs, rhs, width } => self.alu_inst(*op, *dst, *lhs, *rhs, *width),
            Inst::Trunc { dst, src, bits } => {
                let (d, s) = (self.var(*dst), self.var(*src));
                if *bits == 32 {
                    self.emit(BPF_ALU | BPF_MOV | BPF_X, d, s, 0, 0);
                } else {
                    self.mov(d, s);
                    self.trunc(d, *bits);
                }
            }
            Inst::CtxLoad { dst, ctx, field } => {
                let (d, c) = (self.var(*dst), self.var(*ctx));
                let off = ctx_offset(self.func.hook, *field);
                self.emit(BPF_LDX | BPF_W | BPF_MEM, d, c, off, 0);
            }
            Inst::PktRemaining { dst, ptr, end } => {
                let (d, p, e) = (self.var(*dst), self.var(*ptr), self.var(*end));
                self.mov(d, e);
                self.emit(BPF_ALU64 | BPF_SUB | BPF_X, d, p, 0, 0);
            }
            Inst::PtrAdd { dst, ptr, off } => {
                let (d, p) = (self.var(*dst), self.var(*ptr));
                self.mov(d, p);
                if *off != Operand::Imm(0) {
                    self.alu(BPF_ADD, d, *off, 64);
                }
            }
            Inst::LoadField { dst, ptr, hdr_len, bit_offset, width, wire } => {
                let (d, p) = (self.var(*dst), self.var(*ptr));
                if *wire {
                    self.load_wire(d, p, *hdr_len, *bit_offset, *width);
                } else {
                    self.load_field(d, p, *hdr_len, *bit_offset, *width);
                }
            }
            Inst::StoreField { ptr, hdr_len, bit_offset, width, src } => {
                let p = self.var(*ptr);
                self.store_field(p, *hdr_len, *bit_offset, *width, *src);
            }
            Inst::Bswap { dst, src, bytes } => {
                let (d, s) = (self.var(*dst), self.var(*src));
                self.mov(d, s);
                self.emit(BPF_ALU | BPF_END | BPF_TO_BE, d, Reg::Phys(0), 0, i64::from(bytes * 8));
            }
            Inst::BufStore { buf, off, bytes, src } => self.buf_store(*buf, *off, *bytes, *src),
            Inst::BufLoad { dst, buf, off, bytes } => self.buf_load(*dst, *buf, *off, *bytes),
            Inst::MapLookup { dst, map, key } => self.map_lookup(*dst, *map, *key),
            Inst::MemLoad { dst, ptr, off, bytes } => self.mem_load(*dst, *ptr, *off, *bytes),
            Inst::MemStore { ptr, off, bytes, src } => self.mem_store(*ptr, *off, *bytes, *src),
            Inst::Atomic { op, ptr, off, bytes, src } => self.atomic(*op, *ptr, *off, *bytes, *src),
            Inst::Call { dst, call } => self.call(*dst, call),
            Inst::Kcall { dst, call, args } => self.kcall(*dst, *call, args),
            Inst::Helper { dst, helper, args } => self.helper(*dst, *helper, args),
            Inst::MapUpdateFrom { dst, map, key, value, flags } => self.map_update_from(*dst, *map, *key, *value, *flags),
            Inst::TailCall { ctx, map, index } => self.tail_call(*ctx, *map, *index),
            Inst::BufAddr { dst, buf } => {
                let d = self.var(*dst);
                self.buf_addr(d, *buf);
            }
        }
    }

    fn alu_inst(&mut self, op: AluOp, dst: VarId, lhs: VarId, rhs: Operand, width: u32) {
        let (d, l) = (self.var(dst), self.var(lhs));
        // The verifier rejects a division by a constant zero; eBPF defines
        // x / 0 = 0 and x % 0 = x, so fold those here.
        match (op, rhs) {
            (AluOp::Div, Operand::Imm(0)) => return self.mov_imm(d, 0),
            (AluOp::Mod, Operand::Imm(0)) => return self.mov(d, l),
            _ => {}
        }
        // `dst = lhs op dst` would clobber the right operand: use a temp.
        if rhs == Operand::Var(dst) && lhs != dst {
            let t = self.temp();
            self.mov(t, l);
            self.alu(alu_code(op), t, rhs, width);
            self.mov(d, t);
            return;
        }
        self.mov(d, l);
        self.alu(alu_code(op), d, rhs, width);
    }

    fn term(&mut self, term: &Term) -> MTerm {
        match term {
            Term::Jump(b) => MTerm::Jump(b.index()),
            Term::Branch { op, lhs, rhs, width, then_bb, else_bb } => {
                let class = if *width <= 32 { BPF_JMP32 } else { BPF_JMP };
                let dst = self.var(*lhs);
                let (src_flag, src, imm) = match rhs {
                    Operand::Var(v) => (BPF_X, self.var(*v), 0),
                    Operand::Imm(i) if class == BPF_JMP32 => (BPF_K, Reg::Phys(0), *i as u32 as i32),
                    Operand::Imm(i) if fits_simm32(*i) => (BPF_K, Reg::Phys(0), *i as i32),
                    Operand::Imm(i) => {
                        let t = self.temp();
                        self.mov_imm(t, *i);
                        (BPF_X, t, 0)
                    }
                };
                MTerm::Cond {
                    code: class | jmp_code(*op) | src_flag,
                    dst,
                    src,
                    imm,
                    taken: then_bb.index(),
                    not_taken: else_bb.index(),
                    span: self.span,
                }
            }
            Term::BoundsCheck { ptr, len, end, ok, fail } => {
                let p = self.var(*ptr);
                let e = self.var(*end);
                let checked = if *len == 0 {
                    p
                } else {
                    let t = self.temp();
                    self.mov(t, p);
                    self.alu(BPF_ADD, t, Operand::Imm(u64::from(*len)), 64);
                    t
                };
                MTerm::Cond {
                    code: BPF_JMP | BPF_JGT | BPF_X,
                    dst: checked,
                    src: e,
                    imm: 0,
                    taken: fail.index(),
                    not_taken: ok.index(),
                    span: self.span,
                }
            }
            Term::Exit(Exit::Return(code)) => {
                self.mov_imm(Reg::Phys(0), u64::from(*code));
                self.emit(BPF_JMP | BPF_EXIT, Reg::Phys(0), Reg::Phys(0), 0, 0);
                MTerm::Exit
            }
            Term::Exit(Exit::Redirect(ifindex)) => {
                self.operand_to(Reg::Phys(1), *ifindex);
                self.mov_imm(Reg::Phys(2), 0);
                self.emit(BPF_JMP | BPF_CALL, Reg::Phys(0), Reg::Phys(0), 0, HELPER_REDIRECT);
                self.emit(BPF_JMP | BPF_EXIT, Reg::Phys(0), Reg::Phys(0), 0, 0);
                MTerm::Exit
            }
        }
    }
}
