//! A small eBPF interpreter for the benchmark's one question: how many
//! instructions does a program execute on a packet? It runs the object's
//! code (ours or clang's) on an XDP context and counts. It covers what the
//! benchmarked programs use (ALU, byte swaps, loads and stores to the packet
//! and the stack, jumps, exit) and reports anything else as an error; it is
//! no verifier and no replacement for the kernel.

use nfl_compiler::bpf::Insn;
use nfl_compiler::bpf::insn::*;

const PKT_BASE: u64 = 0x1000_0000;
const CTX_BASE: u64 = 0x2000_0000;
const STACK_TOP: u64 = 0x3000_0200;
const STACK_SIZE: usize = 512;

/// The result of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub retval: u64,
    /// Instructions executed, `exit` included (an `LD_IMM64` counts once).
    pub executed: u64,
    /// Jumps taken (conditional or not): each redirects the CPU's fetch.
    pub taken: u64,
}

struct Mem<'a> {
    pkt: &'a mut [u8],
    stack: [u8; STACK_SIZE],
}

impl Mem<'_> {
    fn slice(&mut self, addr: u64, len: usize) -> Result<&mut [u8], String> {
        let (base, buf): (u64, &mut [u8]) = if (PKT_BASE..PKT_BASE + 0x100_0000).contains(&addr) {
            (PKT_BASE, &mut *self.pkt)
        } else if (STACK_TOP - STACK_SIZE as u64..STACK_TOP).contains(&addr) {
            (STACK_TOP - STACK_SIZE as u64, &mut self.stack[..])
        } else {
            return Err(format!(
                "access to {addr:#x}, outside the packet and the stack"
            ));
        };
        let off = (addr - base) as usize;
        buf.get_mut(off..off + len)
            .ok_or_else(|| format!("access of {len} bytes at {addr:#x} is out of bounds"))
    }

    fn load(&mut self, addr: u64, len: usize) -> Result<u64, String> {
        if (CTX_BASE..CTX_BASE + 24).contains(&addr) {
            // struct xdp_md: data, data_end, data_meta (u32 each).
            return match (addr - CTX_BASE, len) {
                (0, 4) => Ok(PKT_BASE),
                (4, 4) => Ok(PKT_BASE + self.pkt.len() as u64),
                (8, 4) => Ok(PKT_BASE),
                (off, _) => Err(format!("unsupported xdp_md load at +{off}")),
            };
        }
        let b = self.slice(addr, len)?;
        let mut v = [0u8; 8];
        v[..len].copy_from_slice(b);
        Ok(u64::from_le_bytes(v))
    }

    fn store(&mut self, addr: u64, len: usize, value: u64) -> Result<(), String> {
        let b = self.slice(addr, len)?;
        b.copy_from_slice(&value.to_le_bytes()[..len]);
        Ok(())
    }
}

fn size_bytes(code: u8) -> usize {
    match code & 0x18 {
        BPF_B => 1,
        BPF_H => 2,
        BPF_W => 4,
        _ => 8,
    }
}

fn alu(op: u8, dst: u64, src: u64, is64: bool) -> Result<u64, String> {
    nfl_runtime::engine::interp::alu(op, 0, 0, dst, src, is64).ok_or_else(|| format!("unsupported ALU op {op:#x}"))
}

fn cond(op: u8, d: u64, s: u64, is64: bool) -> Result<bool, String> {
    nfl_runtime::engine::interp::cond(op, d, s, is64).ok_or_else(|| format!("unsupported jump op {op:#x}"))
}

/// Run `insns` as an XDP program on `pkt` (which it may modify).
pub fn run(insns: &[Insn], pkt: &mut [u8]) -> Result<Run, String> {
    let mut r = [0u64; 11];
    r[1] = CTX_BASE;
    r[10] = STACK_TOP;
    let mut mem = Mem {
        pkt,
        stack: [0; STACK_SIZE],
    };
    let mut pc = 0usize;
    let mut executed = 0u64;
    let mut taken = 0u64;
    loop {
        let insn = *insns
            .get(pc)
            .ok_or_else(|| format!("pc {pc} ran off the program"))?;
        executed += 1;
        if executed > 100_000 {
            return Err("more than 100000 instructions executed".into());
        }
        let (dst, src) = (usize::from(insn.dst), usize::from(insn.src));
        if dst > 10 || src > 10 {
            return Err(format!("bad register in insn {pc}"));
        }
        let imm = i64::from(insn.imm) as u64;
        let code = insn.code;
        let op = code & 0xf0;
        let uses_reg = code & BPF_X != 0;
        let mut next = pc + 1;
        match insn.class() {
            class @ (BPF_ALU | BPF_ALU64) => {
                let is64 = class == BPF_ALU64;
                if op == BPF_END {
                    let bits = insn.imm as u32;
                    let v = r[dst];
                    let to_be = code & BPF_TO_BE != 0;
                    r[dst] = match (bits, to_be) {
                        (16, true) => u64::from((v as u16).swap_bytes()),
                        (32, true) => u64::from((v as u32).swap_bytes()),
                        (64, true) => v.swap_bytes(),
                        (16, false) => u64::from(v as u16),
                        (32, false) => u64::from(v as u32),
                        (64, false) => v,
                        _ => return Err(format!("bad byte swap width {bits}")),
                    };
                } else {
                    let s = if uses_reg { r[src] } else { imm };
                    r[dst] = alu(op, r[dst], s, is64)?;
                }
            }
            BPF_LDX => {
                let addr = r[src].wrapping_add(i64::from(insn.off) as u64);
                r[dst] = mem.load(addr, size_bytes(code))?;
            }
            BPF_STX | BPF_ST => {
                if code & 0xe0 != BPF_MEM {
                    return Err(format!("unsupported store mode in insn {pc}"));
                }
                let addr = r[dst].wrapping_add(i64::from(insn.off) as u64);
                let v = if insn.class() == BPF_STX { r[src] } else { imm };
                mem.store(addr, size_bytes(code), v)?;
            }
            BPF_LD if insn.is_ld_imm64() => {
                let hi = insns.get(pc + 1).ok_or("truncated LD_IMM64")?.imm as u32;
                if insn.src != 0 {
                    return Err("LD_IMM64 of a map or other pseudo value".into());
                }
                r[dst] = (u64::from(hi) << 32) | u64::from(insn.imm as u32);
                next = pc + 2;
            }
            class @ (BPF_JMP | BPF_JMP32) => match op {
                BPF_EXIT => {
                    return Ok(Run {
                        retval: r[0],
                        executed,
                        taken,
                    });
                }
                BPF_CALL => return Err(format!("call in insn {pc} (helpers are not modelled)")),
                BPF_JA => {
                    next = (pc as i64 + 1 + i64::from(insn.off)) as usize;
                    taken += 1;
                }
                _ => {
                    let s = if uses_reg { r[src] } else { imm };
                    if cond(op, r[dst], s, class == BPF_JMP)? && insn.off != 0 {
                        next = (pc as i64 + 1 + i64::from(insn.off)) as usize;
                        taken += 1;
                    }
                }
            },
            _ => {
                return Err(format!(
                    "unsupported instruction class in insn {pc}: {code:#x}"
                ));
            }
        }
        pc = next;
    }
}
