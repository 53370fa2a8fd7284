//! ALU and ALU64 instructions: 32-bit operations compute in `i32` and
//! zero-extend their result; division and modulo get the kernel's answers
//! for a zero divisor (and signed `MIN / -1`) instead of a trap.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I8, I16, I32, I64};
use cranelift_codegen::ir::{InstBuilder, Type, Value};
use nfl_compiler::bpf::Insn;
use nfl_compiler::bpf::insn::*;

use super::{FnCompiler, Res};

pub(super) const ALU: u8 = BPF_ALU;
pub(super) const ALU64: u8 = BPF_ALU64;

impl FnCompiler<'_> {
    pub(super) fn alu(&mut self, pc: u32, insn: Insn) -> Res<()> {
        let wide = insn.class() == BPF_ALU64;
        let op = insn.code & 0xf0;
        if op == BPF_END {
            return self.swap(pc, insn, wide);
        }
        let ty = if wide { I64 } else { I32 };
        let dst = self.get(insn.dst);
        let dst = if wide { dst } else { self.b.ins().ireduce(I32, dst) };
        let from_reg = insn.code & BPF_X != 0;
        let src = if from_reg {
            let s = self.get(insn.src);
            if wide { s } else { self.b.ins().ireduce(I32, s) }
        } else {
            self.konst(ty, i64::from(insn.imm))
        };
        let bad = || Err(format!("instruction {pc}: unknown ALU instruction {insn:?}"));
        let off_ok = match op {
            BPF_DIV | BPF_MOD => matches!(insn.off, 0 | 1),
            BPF_MOV => insn.off == 0 || from_reg && matches!(insn.off, 8 | 16) || wide && from_reg && insn.off == 32,
            _ => insn.off == 0,
        };
        if !off_ok {
            return bad();
        }
        let signed = insn.off == 1;
        let known = (!from_reg).then_some(i64::from(insn.imm));
        let ins = self.b.ins();
        let v = match op {
            BPF_ADD => ins.iadd(dst, src),
            BPF_SUB => ins.isub(dst, src),
            BPF_MUL => ins.imul(dst, src),
            BPF_OR => ins.bor(dst, src),
            BPF_AND => ins.band(dst, src),
            BPF_XOR => ins.bxor(dst, src),
            // Cranelift takes shift amounts modulo the width, as eBPF does.
            BPF_LSH => ins.ishl(dst, src),
            BPF_RSH => ins.ushr(dst, src),
            BPF_ARSH => ins.sshr(dst, src),
            BPF_NEG => ins.ineg(dst),
            BPF_MOV => match insn.off {
                0 => src,
                8 => self.sign_extend(ty, I8, src),
                16 => self.sign_extend(ty, I16, src),
                _ => self.sign_extend(ty, I32, src),
            },
            BPF_DIV | BPF_MOD => self.divide(ty, dst, src, known, signed, op == BPF_MOD),
            _ => return bad(),
        };
        let v = if wide { v } else { self.b.ins().uextend(I64, v) };
        self.set(pc, insn.dst, v)
    }

    /// A constant of type `ty` (I32 immediates are kept masked).
    pub(super) fn konst(&mut self, ty: Type, v: i64) -> Value {
        let v = if ty == I32 { i64::from(v as u32) } else { v };
        self.b.ins().iconst(ty, v)
    }

    fn sign_extend(&mut self, ty: Type, from: Type, v: Value) -> Value {
        let narrow = self.b.ins().ireduce(from, v);
        self.b.ins().sextend(ty, narrow)
    }

    /// `dst / src` or `dst % src`; `known` is the divisor if constant.
    fn divide(&mut self, ty: Type, dst: Value, src: Value, known: Option<i64>, signed: bool, modulo: bool) -> Value {
        let op = |b: &mut Self, x: Value, y: Value| match (signed, modulo) {
            (false, false) => b.b.ins().udiv(x, y),
            (false, true) => b.b.ins().urem(x, y),
            (true, false) => b.b.ins().sdiv(x, y),
            (true, true) => b.b.ins().srem(x, y),
        };
        let known = known.map(|k| if ty == I32 { i64::from(k as i32) } else { k });
        if known.is_some_and(|k| k != 0 && !(signed && k == -1)) {
            return op(self, dst, src);
        }
        let zero = self.konst(ty, 0);
        let one = self.konst(ty, 1);
        let minus_one = self.konst(ty, -1);
        let is_zero = self.b.ins().icmp(IntCC::Equal, src, zero);
        let is_m1 = self.b.ins().icmp(IntCC::Equal, src, minus_one);
        let unsafe_divisor = if signed { self.b.ins().bor(is_zero, is_m1) } else { is_zero };
        let divisor = self.b.ins().select(unsafe_divisor, one, src);
        let mut v = op(self, dst, divisor);
        if signed {
            // x / -1 = -x (wrapping: MIN stays MIN); x % -1 = 0.
            let by_m1 = if modulo { zero } else { self.b.ins().ineg(dst) };
            v = self.b.ins().select(is_m1, by_m1, v);
        }
        // x / 0 = 0; x % 0 = x.
        let by_zero = if modulo { dst } else { zero };
        self.b.ins().select(is_zero, by_zero, v)
    }

    /// `BPF_END`: to little-endian (truncate on this host), to big-endian
    /// or, in ALU64, an unconditional swap.
    fn swap(&mut self, pc: u32, insn: Insn, wide: bool) -> Res<()> {
        if wide && insn.code & BPF_X != 0 || insn.off != 0 {
            return Err(format!("instruction {pc}: unknown byte swap {insn:?}"));
        }
        let reverse = wide || insn.code & BPF_TO_BE != 0;
        let v = self.get(insn.dst);
        let v = match insn.imm {
            16 | 32 => {
                let narrow = self.b.ins().ireduce(if insn.imm == 16 { I16 } else { I32 }, v);
                let narrow = if reverse { self.b.ins().bswap(narrow) } else { narrow };
                self.b.ins().uextend(I64, narrow)
            }
            64 if reverse => self.b.ins().bswap(v),
            64 => v,
            w => return Err(format!("instruction {pc}: byte swap of width {w}")),
        };
        self.set(pc, insn.dst, v)
    }
}
