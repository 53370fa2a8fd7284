//! A small, obviously correct eBPF evaluator (ALU, jumps, `LD_IMM64` and
//! the stack of frame 0) and random programs for it, to check the JIT
//! against.

use nfl_compiler::bpf::Insn;
use nfl_compiler::bpf::insn::*;
use nfl_runtime::engine::vm::{REGION_CTX, REGION_STACK0, frame_pointer, region_of, offset_of, vaddr};
use proptest::prelude::*;

/// r0 and frame 0 after running `code` (which must end in `exit`, jump
/// only forward and touch only the stack) from the entry state the tests
/// give the JIT: r1 = the context, every other register 0.
pub fn eval(code: &[Insn]) -> (u64, [u8; 512]) {
    let mut r = [0u64; 11];
    r[1] = vaddr(REGION_CTX, 0);
    r[10] = frame_pointer(0);
    let mut stack = [0u8; 512];
    let mut pc = 0usize;
    loop {
        let i = code[pc];
        pc += 1;
        let (d, s) = (usize::from(i.dst), usize::from(i.src));
        match i.class() {
            BPF_ALU | BPF_ALU64 => r[d] = alu(i, r[d], r[s]),
            BPF_JMP | BPF_JMP32 => match i.code & 0xf0 {
                BPF_EXIT => return (r[0], stack),
                BPF_JA if i.class() == BPF_JMP => pc = (pc as i64 + i64::from(i.off)) as usize,
                BPF_JA => pc = (pc as i64 + i64::from(i.imm)) as usize,
                _ => {
                    let src = if i.code & BPF_X != 0 { r[s] } else { i.imm as i64 as u64 };
                    if taken(i, r[d], src) {
                        pc = (pc as i64 + i64::from(i.off)) as usize;
                    }
                }
            },
            BPF_LD => {
                r[d] = u64::from(i.imm as u32) | u64::from(code[pc].imm as u32) << 32;
                pc += 1;
            }
            BPF_LDX => {
                let size = size_of(i);
                let at = slot(r[s].wrapping_add(i.off as i64 as u64), size);
                let mut bytes = [0u8; 8];
                bytes[..size].copy_from_slice(&stack[at..at + size]);
                let v = u64::from_le_bytes(bytes);
                r[d] = match (i.code & 0xe0 == 0x80, size) {
                    (true, 1) => v as u8 as i8 as i64 as u64,
                    (true, 2) => v as u16 as i16 as i64 as u64,
                    (true, 4) => v as u32 as i32 as i64 as u64,
                    _ => v,
                };
            }
            BPF_ST | BPF_STX => {
                let size = size_of(i);
                let v = if i.class() == BPF_ST { i.imm as i64 as u64 } else { r[s] };
                let at = slot(r[d].wrapping_add(i.off as i64 as u64), size);
                stack[at..at + size].copy_from_slice(&v.to_le_bytes()[..size]);
            }
            c => panic!("class {c}"),
        }
    }
}

fn size_of(i: Insn) -> usize {
    match i.code & 0x18 {
        BPF_B => 1,
        BPF_H => 2,
        BPF_W => 4,
        _ => 8,
    }
}

/// The index into frame 0 of an access the generator made valid.
fn slot(addr: u64, size: usize) -> usize {
    assert_eq!(region_of(addr), REGION_STACK0, "generated access leaves the stack: {addr:#x}");
    let o = offset_of(addr) as usize;
    assert!(o + size <= 512);
    o
}

fn alu(i: Insn, dst: u64, reg: u64) -> u64 {
    let src = if i.code & BPF_X != 0 { reg } else { i.imm as i64 as u64 };
    let op = i.code & 0xf0;
    if op == BPF_END {
        let swap = i.class() == BPF_ALU64 || i.code & BPF_TO_BE != 0;
        return match (i.imm, swap) {
            (16, false) => u64::from(dst as u16),
            (32, false) => u64::from(dst as u32),
            (16, true) => u64::from((dst as u16).swap_bytes()),
            (32, true) => u64::from((dst as u32).swap_bytes()),
            (_, false) => dst,
            (_, true) => dst.swap_bytes(),
        };
    }
    let signed = i.off == 1;
    // One definition for both widths: `$u`/`$i` the unsigned and signed
    // types, shift amounts masked to their width.
    macro_rules! ops {
        ($u:ty, $i:ty) => {{
            let (d, s) = (dst as $u, src as $u);
            let bits = <$u>::BITS as $u - 1;
            let v: $u = match op {
                BPF_ADD => d.wrapping_add(s),
                BPF_SUB => d.wrapping_sub(s),
                BPF_MUL => d.wrapping_mul(s),
                BPF_DIV if s == 0 => 0,
                BPF_DIV if signed => (d as $i).wrapping_div(s as $i) as $u,
                BPF_DIV => d / s,
                BPF_MOD if s == 0 => d,
                BPF_MOD if signed => (d as $i).wrapping_rem(s as $i) as $u,
                BPF_MOD => d % s,
                BPF_OR => d | s,
                BPF_AND => d & s,
                BPF_XOR => d ^ s,
                BPF_LSH => d << (s & bits),
                BPF_RSH => d >> (s & bits),
                BPF_ARSH => ((d as $i) >> (s & bits)) as $u,
                BPF_NEG => d.wrapping_neg(),
                BPF_MOV => match i.off {
                    8 => s as i8 as $i as $u,
                    16 => s as i16 as $i as $u,
                    32 => s as i32 as $i as $u,
                    _ => s,
                },
                _ => panic!("op {op:#x}"),
            };
            v as u64
        }};
    }
    if i.class() == BPF_ALU64 { ops!(u64, i64) } else { ops!(u32, i32) }
}

fn taken(i: Insn, a: u64, b: u64) -> bool {
    // Unsigned and signed views of the compared width.
    let (a, b, sa, sb) = if i.class() == BPF_JMP32 {
        (u64::from(a as u32), u64::from(b as u32), i64::from(a as i32), i64::from(b as i32))
    } else {
        (a, b, a as i64, b as i64)
    };
    match i.code & 0xf0 {
        BPF_JEQ => a == b,
        BPF_JNE => a != b,
        BPF_JGT => a > b,
        BPF_JGE => a >= b,
        BPF_JLT => a < b,
        BPF_JLE => a <= b,
        BPF_JSGT => sa > sb,
        BPF_JSGE => sa >= sb,
        BPF_JSLT => sa < sb,
        BPF_JSLE => sa <= sb,
        BPF_JSET => a & b != 0,
        op => panic!("jump {op:#x}"),
    }
}

/// One step of a random program.
#[derive(Clone, Debug)]
pub enum Op {
    Alu { wide: bool, op: u8, off: i16, dst: u8, src: Option<u8>, imm: i32 },
    Jump { wide: bool, op: u8, dst: u8, src: Option<u8>, imm: i32, skip: usize },
    Swap { code: u8, bits: i32, dst: u8 },
    Imm64 { dst: u8, value: u64 },
    /// A store of `size` at `r10 + off`, through r10 or (`via`) a copy of
    /// it in another register.
    Store { size: u8, off: i16, src: Option<u8>, imm: i32, via: bool },
    Load { size: u8, off: i16, dst: u8, sx: bool, via: bool },
}

const ALU_OPS: [u8; 13] =
    [BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH, BPF_NEG, BPF_MOD, BPF_XOR, BPF_MOV, BPF_ARSH];
const JMP_OPS: [u8; 11] =
    [BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE, BPF_JSGT, BPF_JSGE, BPF_JLT, BPF_JLE, BPF_JSLT, BPF_JSLE];
const SIZES: [u8; 4] = [BPF_B, BPF_H, BPF_W, BPF_DW];

fn imm() -> impl Strategy<Value = i32> {
    prop_oneof![Just(0), Just(1), Just(-1), Just(i32::MIN), Just(i32::MAX), -64..64i32, any::<i32>()]
}

fn width(size: u8) -> i16 {
    match size {
        BPF_B => 1,
        BPF_H => 2,
        BPF_W => 4,
        _ => 8,
    }
}

/// An offset in `[-512, 0)` aligned to `size`.
fn stack_off(size: u8, k: i16) -> i16 {
    -width(size) * (1 + k % (512 / width(size)))
}

pub fn op() -> impl Strategy<Value = Op> {
    let reg = || 0u8..10;
    let src = || proptest::option::of(0u8..11);
    prop_oneof![
        5 => (any::<bool>(), 0..ALU_OPS.len(), 0..4usize, reg(), src(), imm()).prop_map(|(wide, k, o, dst, src, imm)| {
            let op = ALU_OPS[k];
            let off = match op {
                BPF_DIV | BPF_MOD => (o & 1) as i16,
                BPF_MOV if src.is_some() => [0, 8, 16, if wide { 32 } else { 0 }][o],
                _ => 0,
            };
            Op::Alu { wide, op, off, dst, src, imm }
        }),
        2 => (any::<bool>(), 0..JMP_OPS.len(), reg(), src(), imm(), 0..4usize).prop_map(|(wide, k, dst, src, imm, skip)| {
            Op::Jump { wide, op: JMP_OPS[k], dst, src, imm, skip }
        }),
        1 => (0..3usize, 0..3usize, reg()).prop_map(|(c, b, dst)| {
            let code = [BPF_ALU | BPF_END | BPF_TO_LE, BPF_ALU | BPF_END | BPF_TO_BE, BPF_ALU64 | BPF_END][c];
            Op::Swap { code, bits: [16, 32, 64][b], dst }
        }),
        1 => (reg(), any::<u64>()).prop_map(|(dst, value)| Op::Imm64 { dst, value }),
        2 => (0..4usize, any::<i16>(), proptest::option::of(reg()), imm(), any::<bool>()).prop_map(|(s, k, src, imm, via)| {
            let size = SIZES[s];
            Op::Store { size, off: stack_off(size, k.unsigned_abs() as i16 & 0x3ff), src, imm, via }
        }),
        2 => (0..4usize, any::<i16>(), reg(), any::<bool>(), any::<bool>()).prop_map(|(s, k, dst, sx, via)| {
            let size = SIZES[s];
            Op::Load { size, off: stack_off(size, k.unsigned_abs() as i16 & 0x3ff), dst, sx: sx && size != BPF_DW, via }
        }),
    ]
}

/// The program of `ops`, ending in an epilogue that folds r1..r9 into r0.
pub fn assemble(ops: &[Op]) -> Vec<Insn> {
    let mut code = Vec::new();
    let mut starts = Vec::new();
    let mut jumps = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        starts.push(code.len());
        match *op {
            Op::Alu { wide, op, off, dst, src, imm } => {
                let class = if wide { BPF_ALU64 } else { BPF_ALU };
                code.push(match src {
                    Some(s) => Insn::new(class | op | BPF_X, dst, s, off, 0),
                    None => Insn::new(class | op | BPF_K, dst, 0, off, imm),
                });
            }
            Op::Jump { wide, op, dst, src, imm, skip } => {
                let class = if wide { BPF_JMP } else { BPF_JMP32 };
                jumps.push((code.len(), (n + 1 + skip).min(ops.len())));
                code.push(match src {
                    Some(s) => Insn::new(class | op | BPF_X, dst, s, 0, 0),
                    None => Insn::new(class | op | BPF_K, dst, 0, 0, imm),
                });
            }
            Op::Swap { code: c, bits, dst } => code.push(Insn::new(c, dst, 0, 0, bits)),
            Op::Imm64 { dst, value } => code.extend(Insn::ld_imm64(dst, value)),
            Op::Store { size, off, src, imm, via } => {
                let (base, off) = pointer(&mut code, via, src.map_or(0, |s| (s + 1) % 10), off);
                code.push(match src {
                    Some(s) => Insn::new(BPF_STX | size | BPF_MEM, base, s, off, 0),
                    None => Insn::new(BPF_ST | size | BPF_MEM, base, 0, off, imm),
                });
            }
            Op::Load { size, off, dst, sx, via } => {
                let (base, off) = pointer(&mut code, via, dst, off);
                let mode = if sx { 0x80 } else { BPF_MEM };
                code.push(Insn::new(BPF_LDX | size | mode, dst, base, off, 0));
            }
        }
    }
    starts.push(code.len());
    for (at, to) in jumps {
        code[at].off = (starts[to] - at - 1) as i16;
    }
    for r in 1..=9 {
        code.push(Insn::alu64_imm(BPF_MUL, 0, 31));
        code.push(Insn::alu64_reg(BPF_XOR, 0, r));
    }
    code.push(Insn::exit());
    code
}

/// The base register and offset of a stack access at `r10 + off`: r10
/// itself, or `tmp = r10 + off - 8` used at offset 8.
fn pointer(code: &mut Vec<Insn>, via: bool, tmp: u8, off: i16) -> (u8, i16) {
    if !via {
        return (R10, off);
    }
    code.push(Insn::mov64_reg(tmp, R10));
    code.push(Insn::alu64_imm(BPF_ADD, tmp, i32::from(off) - 8));
    (tmp, 8)
}
