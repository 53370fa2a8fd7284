//! The reference interpreter: each instruction exactly as the eBPF ISA
//! defines it, on the engine's memory model. It is the oracle the JIT is
//! checked against (random programs in `tests/engine_jit.rs`) and the
//! engine's `Mode::Interp`. Backward jumps and calls spend the run's
//! budget (`vm::BUDGET`), as the JIT's do.

use nfl_compiler::bpf::Insn;
use nfl_compiler::bpf::insn::*;

use super::calls;
use super::image::Linked;
use super::vm::{ABORT_NONE, FaultKind, KFUNC_BASE, MAX_FRAMES, Runner, Vm, frame_pointer};

const BPF_MEMSX: u8 = 0x80;
const BPF_FETCH: i32 = 0x01;
const BPF_XCHG: i32 = 0xe0 | BPF_FETCH;
const BPF_CMPXCHG: i32 = 0xf0 | BPF_FETCH;

/// Runs one linked program's functions.
pub struct Interp {
    pub code: Linked,
}

impl Interp {
    pub fn new(code: Linked) -> Interp {
        Interp { code }
    }
}

impl Runner for Interp {
    unsafe fn call(&self, vm: *mut Vm, target: u32, depth: u32, args: [u64; 5]) -> u64 {
        // SAFETY: the caller's promise.
        unsafe { self.exec(vm, target, depth, args) }
    }
}

fn size_of(code: u8) -> u32 {
    match code & 0x18 {
        BPF_B => 1,
        BPF_H => 2,
        BPF_W => 4,
        _ => 8,
    }
}

fn sign_extend(v: u64, bits: u32) -> u64 {
    (((v << (64 - bits)) as i64) >> (64 - bits)) as u64
}

/// One ALU operation; `None` for an encoding the ISA does not have.
pub fn alu(op: u8, off: i16, imm: i32, dst: u64, src: u64, is64: bool) -> Option<u64> {
    let signed = off == 1;
    if is64 {
        Some(match op {
            BPF_ADD => dst.wrapping_add(src),
            BPF_SUB => dst.wrapping_sub(src),
            BPF_MUL => dst.wrapping_mul(src),
            BPF_DIV if src == 0 => 0,
            BPF_DIV if signed => (dst as i64).wrapping_div(src as i64) as u64,
            BPF_DIV => dst / src,
            BPF_MOD if src == 0 => dst,
            BPF_MOD if signed => (dst as i64).wrapping_rem(src as i64) as u64,
            BPF_MOD => dst % src,
            BPF_OR => dst | src,
            BPF_AND => dst & src,
            BPF_XOR => dst ^ src,
            BPF_LSH => dst << (src & 63),
            BPF_RSH => dst >> (src & 63),
            BPF_ARSH => ((dst as i64) >> (src & 63)) as u64,
            BPF_NEG => dst.wrapping_neg(),
            BPF_MOV => match off {
                0 => src,
                8 | 16 | 32 => sign_extend(src, off as u32),
                _ => return None,
            },
            BPF_END => match imm {
                16 => u64::from((dst as u16).swap_bytes()),
                32 => u64::from((dst as u32).swap_bytes()),
                64 => dst.swap_bytes(),
                _ => return None,
            },
            _ => return None,
        })
    } else {
        let (d, s) = (dst as u32, src as u32);
        let r: u32 = match op {
            BPF_ADD => d.wrapping_add(s),
            BPF_SUB => d.wrapping_sub(s),
            BPF_MUL => d.wrapping_mul(s),
            BPF_DIV if s == 0 => 0,
            BPF_DIV if signed => (d as i32).wrapping_div(s as i32) as u32,
            BPF_DIV => d / s,
            BPF_MOD if s == 0 => d,
            BPF_MOD if signed => (d as i32).wrapping_rem(s as i32) as u32,
            BPF_MOD => d % s,
            BPF_OR => d | s,
            BPF_AND => d & s,
            BPF_XOR => d ^ s,
            BPF_LSH => d << (s & 31),
            BPF_RSH => d >> (s & 31),
            BPF_ARSH => ((d as i32) >> (s & 31)) as u32,
            BPF_NEG => d.wrapping_neg(),
            BPF_MOV => match off {
                0 => s,
                8 | 16 => sign_extend(u64::from(s), off as u32) as u32,
                _ => return None,
            },
            _ => return None,
        };
        Some(u64::from(r))
    }
}

/// `BPF_END` in the 32-bit ALU class: to little endian truncates, to big
/// endian swaps (on a little-endian host).
fn endian(dst: u64, imm: i32, to_be: bool) -> Option<u64> {
    Some(match (imm, to_be) {
        (16, false) => dst & 0xffff,
        (32, false) => dst & 0xffff_ffff,
        (64, false) => dst,
        (16, true) => u64::from((dst as u16).swap_bytes()),
        (32, true) => u64::from((dst as u32).swap_bytes()),
        (64, true) => dst.swap_bytes(),
        _ => return None,
    })
}

/// A conditional jump's test; `None` for an encoding the ISA does not have.
pub fn cond(op: u8, a: u64, b: u64, is64: bool) -> Option<bool> {
    let (a, b, sa, sb) = if is64 {
        (a, b, a as i64, b as i64)
    } else {
        (a & 0xffff_ffff, b & 0xffff_ffff, i64::from(a as i32), i64::from(b as i32))
    };
    Some(match op {
        BPF_JEQ => a == b,
        BPF_JNE => a != b,
        BPF_JGT => a > b,
        BPF_JGE => a >= b,
        BPF_JLT => a < b,
        BPF_JLE => a <= b,
        BPF_JSET => a & b != 0,
        BPF_JSGT => sa > sb,
        BPF_JSGE => sa >= sb,
        BPF_JSLT => sa < sb,
        BPF_JSLE => sa <= sb,
        _ => return None,
    })
}

impl Interp {
    /// Run the function at `entry` in frame `depth`.
    ///
    /// # Safety
    /// `vmp` must point to a live [`Vm`] that nothing else uses meanwhile.
    pub unsafe fn exec(&self, vmp: *mut Vm, entry: u32, depth: u32, args: [u64; 5]) -> u64 {
        // SAFETY (every `vm!()`): the caller's promise; no reference made
        // from `vmp` outlives the statement that makes it.
        macro_rules! vm {
            () => {
                unsafe { &mut *vmp }
            };
        }
        let insns: &[Insn] = &self.code.insns;
        let mut r = [0u64; 11];
        r[1..6].copy_from_slice(&args);
        r[10] = frame_pointer(depth);
        let mut pc = entry as usize;
        let bad = move |pc: usize, what: &str| {
            // SAFETY: as `vm!()`.
            unsafe { (*vmp).raise(pc as u32, FaultKind::BadInsn { message: what.to_string() }) };
            0
        };
        loop {
            let Some(&i) = insns.get(pc) else {
                return bad(pc, "execution ran off the end of the program");
            };
            let (d, s) = (i.dst as usize, i.src as usize);
            if d > 10 || s > 10 && !matches!(i.code & 0x07, BPF_LD | BPF_JMP | BPF_JMP32 | BPF_ST) {
                return bad(pc, "register number out of range");
            }
            let class = i.code & 0x07;
            let src_val = |r: &[u64; 11]| if i.code & BPF_X != 0 { r[s.min(10)] } else { i.imm as i64 as u64 };
            match class {
                BPF_ALU | BPF_ALU64 => {
                    if d == 10 {
                        return bad(pc, "write to r10");
                    }
                    let op = i.code & 0xf0;
                    let out = if op == BPF_END && class == BPF_ALU {
                        endian(r[d], i.imm, i.code & BPF_TO_BE != 0)
                    } else {
                        alu(op, i.off, i.imm, r[d], src_val(&r), class == BPF_ALU64)
                    };
                    match out {
                        Some(v) => r[d] = v,
                        None => return bad(pc, "unknown ALU encoding"),
                    }
                }
                BPF_JMP | BPF_JMP32 => {
                    let op = i.code & 0xf0;
                    match op {
                        BPF_JA => {
                            let off = if class == BPF_JMP32 { i64::from(i.imm) } else { i64::from(i.off) };
                            if off < 0 && !vm!().spend(pc as u32) {
                                return 0;
                            }
                            pc = (pc as i64).wrapping_add(off) as usize;
                        }
                        BPF_EXIT => return r[0],
                        BPF_CALL => {
                            r[0] = match i.src {
                                0 | 2 => {
                                    let id = if i.src == 2 { KFUNC_BASE + i.imm as u32 as u64 } else { i.imm as u32 as u64 };
                                    let a = [r[1], r[2], r[3], r[4], r[5]];
                                    // SAFETY: nothing borrows the VM across this call.
                                    unsafe { calls::dispatch(vmp, id, a, pc as u32) }
                                }
                                1 => {
                                    if !vm!().spend(pc as u32) {
                                        return 0;
                                    }
                                    if depth + 1 >= MAX_FRAMES {
                                        vm!().raise(pc as u32, FaultKind::CallDepth);
                                        return 0;
                                    }
                                    let t = (pc as i64 + 1 + i64::from(i.imm)) as u32; // out of range: caught on entry
                                    // SAFETY: the caller's promise, passed on.
                                    unsafe { self.exec(vmp, t, depth + 1, [r[1], r[2], r[3], r[4], r[5]]) }
                                }
                                _ => return bad(pc, "unknown call kind"),
                            };
                            if vm!().ctx.abort != ABORT_NONE {
                                return 0;
                            }
                        }
                        _ => {
                            let b = if i.code & BPF_X != 0 { r[s] } else { i.imm as i64 as u64 };
                            match cond(op, r[d], b, class == BPF_JMP) {
                                Some(true) if i.off < 0 && !vm!().spend(pc as u32) => return 0,
                                Some(true) => pc = (pc as i64).wrapping_add(i64::from(i.off)) as usize,
                                Some(false) => {}
                                None => return bad(pc, "unknown jump encoding"),
                            }
                        }
                    }
                }
                BPF_LD => {
                    if i.code != BPF_LD | BPF_DW | BPF_IMM || d == 10 {
                        return bad(pc, "legacy packet loads are not supported");
                    }
                    let hi = insns.get(pc + 1).map_or(0, |n| n.imm as u32 as u64);
                    r[d] = (i.imm as u32 as u64) | hi << 32;
                    pc += 1;
                }
                BPF_LDX => {
                    if d == 10 {
                        return bad(pc, "write to r10");
                    }
                    let size = size_of(i.code);
                    let addr = r[s].wrapping_add(i.off as i64 as u64);
                    let v = vm!().load(pc as u32, addr, size);
                    if vm!().ctx.abort != ABORT_NONE {
                        return 0;
                    }
                    r[d] = match i.code & 0xe0 {
                        BPF_MEM => v,
                        BPF_MEMSX => sign_extend(v, size * 8),
                        _ => return bad(pc, "unknown load mode"),
                    };
                }
                BPF_ST | BPF_STX => {
                    let size = size_of(i.code);
                    let addr = r[d].wrapping_add(i.off as i64 as u64);
                    let value = if class == BPF_ST { i.imm as i64 as u64 } else { r[s] };
                    match i.code & 0xe0 {
                        BPF_MEM => vm!().store(pc as u32, addr, size, value),
                        BPF_ATOMIC if class == BPF_STX && size >= 4 => {
                            if let Some(fetched) = atomic(vm!(), pc as u32, addr, size, i.imm, value, r[0]) {
                                if i.imm == BPF_CMPXCHG {
                                    r[0] = fetched;
                                } else if i.imm & BPF_FETCH != 0 {
                                    r[s] = fetched;
                                }
                            }
                        }
                        _ => return bad(pc, "unknown store mode"),
                    }
                    if vm!().ctx.abort != ABORT_NONE {
                        return 0;
                    }
                }
                _ => return bad(pc, "unknown instruction class"),
            }
            // A jump before the start wraps here and is caught above.
            pc = pc.wrapping_add(1);
        }
    }
}

/// An atomic read-modify-write; the old value (zero-extended for 32-bit
/// operations), `None` after a fault.
fn atomic(vm: &mut Vm, pc: u32, addr: u64, size: u32, op: i32, src: u64, r0: u64) -> Option<u64> {
    let old = vm.load(pc, addr, size);
    if vm.ctx.abort != ABORT_NONE {
        return None;
    }
    let new = match op & !BPF_FETCH {
        _ if op == BPF_XCHG => src,
        _ if op == BPF_CMPXCHG => {
            let mask = if size == 4 { 0xffff_ffff } else { u64::MAX };
            if old == r0 & mask { src } else { old }
        }
        0x00 => old.wrapping_add(src),
        0x40 => old | src,
        0x50 => old & src,
        0xa0 => old ^ src,
        _ => {
            vm.raise(pc, FaultKind::BadInsn { message: format!("unknown atomic operation {op:#x}") });
            return None;
        }
    };
    vm.store(pc, addr, size, new);
    Some(old)
}
