//! The Cranelift JIT of the userspace engine on hand-assembled programs:
//! every ALU and jump operation, memory of every width on the packet and
//! the stack, atomics, calls, and the faults of bad accesses; a property
//! test against a small reference evaluator and the interpreter; and every
//! example's object (tests/engine.rs runs their cases in the JIT).

use nfl_compiler::bpf::Insn;
use nfl_compiler::bpf::insn::*;
use nfl_runtime::ProgramKind;
use nfl_runtime::engine::EngineError;
use nfl_runtime::engine::env::{Env, World};
use nfl_runtime::engine::image::Linked;
use nfl_runtime::engine::interp::Interp;
use nfl_runtime::engine::jit::{self, JitProgram};
use nfl_runtime::engine::maps::MapSet;
use nfl_runtime::engine::vm::{
    Fault, FaultKind, REGION_CTX, REGION_PKT, REGION_STACK0, Region, Runner, Vm, frame_pointer, vaddr,
};

mod jit_ref;

/// A program of one or more functions: a function starts at 0 and at
/// every bpf-to-bpf call target, as `image::read` finds them.
fn linked(insns: &[Insn]) -> Linked {
    let mut funcs = vec![0u32];
    for (pc, i) in insns.iter().enumerate() {
        if i.code == BPF_JMP | BPF_CALL && i.src == BPF_PSEUDO_CALL {
            funcs.push((pc as i64 + 1 + i64::from(i.imm)) as u32);
        }
    }
    funcs.sort();
    funcs.dedup();
    Linked {
        name: "test".into(),
        kind: ProgramKind::Xdp,
        insns: insns.to_vec(),
        funcs,
        value_refs: Vec::new(),
        lines: Vec::new(),
    }
}

fn compile(insns: &[Insn]) -> JitProgram {
    jit::compile(&linked(insns)).unwrap_or_else(|e| panic!("compile: {e}"))
}

/// A VM whose packet is `packet`, ready to run.
fn vm_with(packet: &[u8]) -> Box<Vm> {
    let mut vm = Vm::new(Env::new(ProgramKind::Xdp, MapSet::default(), World::default()));
    vm.begin_run();
    vm.env.packet.fill(packet).expect("packet fits");
    let (head, end) = (vm.env.packet.head as u64, vm.env.packet.end as u64);
    let base = vm.env.packet.buf.as_mut_ptr();
    vm.regions.set(REGION_PKT, Region { base, lo: head, hi: end });
    vm.sync();
    vm
}

/// Run function 0 of `prog` on `vm` with r1 = the context.
fn run_on(prog: &JitProgram, vm: &mut Vm) -> u64 {
    let f = prog.entry(0).expect("entry");
    // SAFETY: `vm` is live and used by nothing else; `ctx` is its first field.
    unsafe { f(&mut vm.ctx, 0, vaddr(REGION_CTX, 0), 0, 0, 0, 0) }
}

/// r0 of `insns` on `packet`; the run must not fault.
fn run_pkt(insns: &[Insn], packet: &[u8]) -> (u64, Box<Vm>) {
    let prog = compile(insns);
    let mut vm = vm_with(packet);
    let r0 = run_on(&prog, &mut vm);
    assert_eq!(vm.fault, None, "unexpected fault");
    (r0, vm)
}

fn ret(insns: &[Insn]) -> u64 {
    run_pkt(insns, &[]).0
}

/// The fault `insns` ends with on `packet`.
fn fault_of(insns: &[Insn], packet: &[u8]) -> Fault {
    let prog = compile(insns);
    let mut vm = vm_with(packet);
    run_on(&prog, &mut vm);
    vm.fault.clone().expect("a fault")
}

/// `r0 = dst op src` through a register (X) and, when `src` fits, an
/// immediate (K).
fn alu(class: u8, op: u8, off: i16, dst: u64, src: u64) -> u64 {
    let mut code = Vec::new();
    code.extend(Insn::ld_imm64(2, dst));
    code.extend(Insn::ld_imm64(3, src));
    code.push(Insn::new(class | op | BPF_X, 2, 3, off, 0));
    code.push(Insn::mov64_reg(0, 2));
    code.push(Insn::exit());
    let x = ret(&code);
    let as_imm = if class == BPF_ALU64 { src as i64 == i64::from(src as i32) } else { src <= u64::from(u32::MAX) };
    if as_imm && !(op == BPF_MOV && off != 0) {
        let mut code = Vec::new();
        code.extend(Insn::ld_imm64(2, dst));
        code.push(Insn::new(class | op | BPF_K, 2, 0, off, src as i32));
        code.push(Insn::mov64_reg(0, 2));
        code.push(Insn::exit());
        assert_eq!(ret(&code), x, "K and X forms differ: op {op:#x} off {off} {dst:#x} {src:#x}");
    }
    x
}

const MIN64: u64 = 1 << 63;
const M1: u64 = u64::MAX;

#[test]
fn alu64_every_operation() {
    let a = |op, d, s| alu(BPF_ALU64, op, 0, d, s);
    assert_eq!(a(BPF_ADD, 5, 7), 12);
    assert_eq!(a(BPF_ADD, M1, 1), 0);
    assert_eq!(a(BPF_SUB, 5, 7), (-2i64) as u64);
    assert_eq!(a(BPF_MUL, 0x1_0000_0001, 3), 0x3_0000_0003);
    assert_eq!(a(BPF_DIV, 100, 7), 14);
    assert_eq!(a(BPF_DIV, M1, 2), M1 / 2);
    assert_eq!(a(BPF_DIV, 100, 0), 0);
    assert_eq!(a(BPF_MOD, 100, 7), 2);
    assert_eq!(a(BPF_MOD, 100, 0), 100);
    assert_eq!(a(BPF_OR, 0xf0, 0x0f), 0xff);
    assert_eq!(a(BPF_AND, 0xf0f0, 0xff00), 0xf000);
    assert_eq!(a(BPF_XOR, 0xff, 0x0f), 0xf0);
    assert_eq!(a(BPF_LSH, 1, 63), MIN64);
    assert_eq!(a(BPF_LSH, 1, 65), 2, "shift amounts are masked to 63");
    assert_eq!(a(BPF_RSH, MIN64, 63), 1);
    assert_eq!(a(BPF_ARSH, (-16i64) as u64, 2), (-4i64) as u64);
    assert_eq!(a(BPF_ARSH, MIN64, 64), MIN64, "masked: a shift by 0");
    assert_eq!(a(BPF_NEG, 5, 0), (-5i64) as u64);
    assert_eq!(a(BPF_MOV, 1, 0xdead_beef_0000_0001), 0xdead_beef_0000_0001);
    assert_eq!(a(BPF_MOV, 1, (-3i64) as u64), (-3i64) as u64);
}

#[test]
fn alu64_signed_division() {
    let s = |op, d: i64, r: i64| alu(BPF_ALU64, op, 1, d as u64, r as u64) as i64;
    assert_eq!(s(BPF_DIV, -100, 7), -14);
    assert_eq!(s(BPF_DIV, 100, -7), -14);
    assert_eq!(s(BPF_DIV, i64::MIN, -1), i64::MIN, "INT_MIN / -1 wraps, no trap");
    assert_eq!(s(BPF_DIV, 7, -1), -7);
    assert_eq!(s(BPF_DIV, 7, 0), 0);
    assert_eq!(s(BPF_MOD, -100, 7), -2);
    assert_eq!(s(BPF_MOD, 100, -7), 2);
    assert_eq!(s(BPF_MOD, i64::MIN, -1), 0);
    assert_eq!(s(BPF_MOD, -7, 0), -7);
}

#[test]
fn alu32_every_operation_zero_extends() {
    let hi = 0xabcd_0000_0000_0000u64;
    let a = |op, d, s| alu(BPF_ALU, op, 0, d, s);
    assert_eq!(a(BPF_ADD, hi | 0xffff_ffff, 1), 0);
    assert_eq!(a(BPF_ADD, hi | 5, 7), 12);
    assert_eq!(a(BPF_SUB, hi | 5, 7), 0xffff_fffe);
    assert_eq!(a(BPF_MUL, hi | 0x8000_0001, 2), 2);
    assert_eq!(a(BPF_DIV, hi | 100, 7), 14);
    assert_eq!(a(BPF_DIV, hi | 100, 0), 0);
    assert_eq!(a(BPF_DIV, 0xffff_fffe, 0xffff_ffff), 0, "the immediate is unsigned 32-bit");
    assert_eq!(a(BPF_MOD, hi | 100, 7), 2);
    assert_eq!(a(BPF_MOD, hi | 100, 0), 100, "x % 0 = x truncated to 32 bits");
    assert_eq!(a(BPF_OR, hi | 0xf0, 0x0f), 0xff);
    assert_eq!(a(BPF_AND, hi | 0xf0f0, 0xff00), 0xf000);
    assert_eq!(a(BPF_XOR, hi | 0xff, 0x0f), 0xf0);
    assert_eq!(a(BPF_LSH, 1, 31), 0x8000_0000);
    assert_eq!(a(BPF_LSH, 1, 33), 2, "shift amounts are masked to 31");
    assert_eq!(a(BPF_RSH, hi | 0x8000_0000, 31), 1);
    assert_eq!(a(BPF_ARSH, hi | 0x8000_0000, 4), 0xf800_0000);
    assert_eq!(a(BPF_NEG, hi | 5, 0), 0xffff_fffb);
    assert_eq!(a(BPF_MOV, 1, hi | 0x1234), 0x1234);
    let s = |op, d: i32, r: i32| alu(BPF_ALU, op, 1, u64::from(d as u32), u64::from(r as u32));
    assert_eq!(s(BPF_DIV, -100, 7), u64::from((-14i32) as u32));
    assert_eq!(s(BPF_DIV, i32::MIN, -1), 0x8000_0000);
    assert_eq!(s(BPF_DIV, 5, 0), 0);
    assert_eq!(s(BPF_MOD, -100, 7), u64::from((-2i32) as u32));
    assert_eq!(s(BPF_MOD, i32::MIN, -1), 0);
    assert_eq!(s(BPF_MOD, -5, 0), u64::from((-5i32) as u32));
}

#[test]
fn movsx_sign_extends() {
    let m = |class, off, v| alu(class, BPF_MOV, off, 0, v);
    assert_eq!(m(BPF_ALU64, 8, 0x1280), 0xffff_ffff_ffff_ff80);
    assert_eq!(m(BPF_ALU64, 8, 0x127f), 0x7f);
    assert_eq!(m(BPF_ALU64, 16, 0x1_8000), 0xffff_ffff_ffff_8000);
    assert_eq!(m(BPF_ALU64, 32, 0x1_8000_0000), 0xffff_ffff_8000_0000);
    assert_eq!(m(BPF_ALU, 8, 0x80), 0xffff_ff80);
    assert_eq!(m(BPF_ALU, 16, 0xffff_8000_8000), 0xffff_8000);
}

#[test]
fn byte_swaps() {
    let v = 0x1122_3344_5566_7788u64;
    let swap = |class: u8, dir: u8, bits: i32| {
        let mut code = Insn::ld_imm64(0, v).to_vec();
        code.push(Insn::new(class | BPF_END | dir, 0, 0, 0, bits));
        code.push(Insn::exit());
        ret(&code)
    };
    assert_eq!(swap(BPF_ALU, BPF_TO_LE, 16), 0x7788);
    assert_eq!(swap(BPF_ALU, BPF_TO_LE, 32), 0x5566_7788);
    assert_eq!(swap(BPF_ALU, BPF_TO_LE, 64), v);
    assert_eq!(swap(BPF_ALU, BPF_TO_BE, 16), 0x8877);
    assert_eq!(swap(BPF_ALU, BPF_TO_BE, 32), 0x8877_6655);
    assert_eq!(swap(BPF_ALU, BPF_TO_BE, 64), 0x8877_6655_4433_2211);
    assert_eq!(swap(BPF_ALU64, 0, 16), 0x8877);
    assert_eq!(swap(BPF_ALU64, 0, 32), 0x8877_6655);
    assert_eq!(swap(BPF_ALU64, 0, 64), 0x8877_6655_4433_2211);
}

/// Whether `if a op b` jumps, for the X and (when `b` fits) K forms.
fn taken(class: u8, op: u8, a: u64, b: u64) -> bool {
    let body = |cmp: Insn| {
        let mut code = Insn::ld_imm64(2, a).to_vec();
        code.extend(Insn::ld_imm64(3, b));
        code.extend([Insn::mov64_imm(0, 0), cmp, Insn::exit(), Insn::mov64_imm(0, 1), Insn::exit()]);
        ret(&code) == 1
    };
    let x = body(Insn::new(class | op | BPF_X, 2, 3, 1, 0));
    let fits = if class == BPF_JMP { b as i64 == i64::from(b as i32) } else { true };
    if fits {
        assert_eq!(body(Insn::new(class | op | BPF_K, 2, 0, 1, b as i32)), x, "K and X differ: {op:#x} {a:#x} {b:#x}");
    }
    x
}

#[test]
fn jumps_64() {
    let m1 = u64::MAX;
    // (op, [taken for (1, 1), (m1, 1), (1, m1), (6, 3)])
    let table = [
        (BPF_JEQ, [true, false, false, false]),
        (BPF_JNE, [false, true, true, true]),
        (BPF_JGT, [false, true, false, true]),
        (BPF_JGE, [true, true, false, true]),
        (BPF_JLT, [false, false, true, false]),
        (BPF_JLE, [true, false, true, false]),
        (BPF_JSGT, [false, false, true, true]),
        (BPF_JSGE, [true, false, true, true]),
        (BPF_JSLT, [false, true, false, false]),
        (BPF_JSLE, [true, true, false, false]),
        (BPF_JSET, [true, true, true, true]),
    ];
    let pairs = [(1, 1), (m1, 1), (1, m1), (6, 3)];
    for (op, want) in table {
        for ((a, b), w) in pairs.into_iter().zip(want) {
            assert_eq!(taken(BPF_JMP, op, a, b), w, "JMP op {op:#x} on {a:#x}, {b:#x}");
        }
    }
    assert!(!taken(BPF_JMP, BPF_JSET, 6, 1));
    assert!(!taken(BPF_JMP, BPF_JEQ, 0x1_0000_0001, 1), "64-bit compare sees the high half");
}

#[test]
fn jumps_32_ignore_the_high_half() {
    let hi = 0x7777_0000_0000_0000u64;
    let table = [
        (BPF_JEQ, [true, false, false]),
        (BPF_JNE, [false, true, true]),
        (BPF_JGT, [false, true, false]),
        (BPF_JGE, [true, true, false]),
        (BPF_JLT, [false, false, true]),
        (BPF_JLE, [true, false, true]),
        (BPF_JSGT, [false, false, true]),
        (BPF_JSGE, [true, false, true]),
        (BPF_JSLT, [false, true, false]),
        (BPF_JSLE, [true, true, false]),
        (BPF_JSET, [true, true, true]),
    ];
    // (1, 1), (-1, 1), (1, -1) in 32 bits, the high halves set.
    let pairs = [(hi | 1, 1), (hi | 0xffff_ffff, 1), (hi | 1, 0xffff_ffff)];
    for (op, want) in table {
        for ((a, b), w) in pairs.into_iter().zip(want) {
            assert_eq!(taken(BPF_JMP32, op, a, b), w, "JMP32 op {op:#x} on {a:#x}, {b:#x}");
        }
    }
    assert!(!taken(BPF_JMP32, BPF_JSET, 0x1_0000_0000, 0x1_0000_0000));
}

#[test]
fn ja_and_gotol() {
    let code = [
        Insn::mov64_imm(0, 1),
        Insn::ja(1),
        Insn::mov64_imm(0, 2),
        Insn::new(BPF_JMP32 | BPF_JA, 0, 0, 0, 1),
        Insn::mov64_imm(0, 3),
        Insn::exit(),
    ];
    assert_eq!(ret(&code), 1);
}

#[test]
fn bounded_loop_with_memory_in_its_body() {
    let mut code = packet_ptrs().to_vec();
    code.extend([
        Insn::mov64_imm(0, 0),
        Insn::mov64_imm(4, 10),
        // loop: r0 += r4 + packet[r4 - 1]; if --r4 != 0 goto loop
        Insn::alu64_reg(BPF_ADD, 0, 4),
        Insn::mov64_reg(5, 2),
        Insn::alu64_reg(BPF_ADD, 5, 4),
        Insn::ldx(BPF_B, 5, 5, -1),
        Insn::alu64_reg(BPF_ADD, 0, 5),
        Insn::alu64_imm(BPF_SUB, 4, 1),
        Insn::jmp_imm(BPF_JNE, 4, 0, -7),
        Insn::exit(),
    ]);
    let packet: Vec<u8> = (100..110).collect();
    assert_eq!(ret_of(&code, &packet), 55 + (100..110).sum::<u64>());
}

/// `r2 = data, r3 = data_end` from the XDP context.
fn packet_ptrs() -> [Insn; 2] {
    [Insn::ldx(BPF_W, 2, 1, 0), Insn::ldx(BPF_W, 3, 1, 4)]
}

#[test]
fn ctx_loads_give_the_packet_pointers() {
    let mut code = packet_ptrs().to_vec();
    code.extend([Insn::mov64_reg(0, 3), Insn::alu64_reg(BPF_SUB, 0, 2), Insn::exit()]);
    let (len, vm) = run_pkt(&code, &[0u8; 60]);
    assert_eq!(len, 60);
    let (head, end) = (vm.env.packet.head as u32, vm.env.packet.end as u32);
    let data = ret_of(&[Insn::ldx(BPF_W, 0, 1, 0), Insn::exit()], &[0u8; 60]);
    assert_eq!(data, vaddr(REGION_PKT, head), "data is the packet region's virtual address, unmodified");
    let data_end = ret_of(&[Insn::ldx(BPF_W, 0, 1, 4), Insn::exit()], &[0u8; 60]);
    assert_eq!(data_end, vaddr(REGION_PKT, end));
    let f = fault_of(&[Insn::ldx(BPF_W, 0, 1, 2), Insn::exit()], &[]);
    assert_eq!(f, Fault { pc: 0, kind: FaultKind::BadContext { offset: 2, size: 4, store: false } });
}

#[test]
fn ctx_fields_of_both_hooks() {
    // XDP: data_meta is data; a context pointer moved by 4 reads data_end
    // at offset 0.
    let data = vaddr(REGION_PKT, 256);
    assert_eq!(ret_of(&[Insn::ldx(BPF_W, 0, 1, 8), Insn::exit()], &[0u8; 20]), data);
    let code = [Insn::alu64_imm(BPF_ADD, 1, 4), Insn::ldx(BPF_W, 0, 1, 0), Insn::exit()];
    assert_eq!(ret_of(&code, &[0u8; 20]), data + 20);
    // TC: len (0), data (76), data_end (80), data_meta (140).
    let mut l = linked(&[
        Insn::ldx(BPF_W, 2, 1, 76),
        Insn::ldx(BPF_W, 3, 1, 80),
        Insn::ldx(BPF_W, 4, 1, 140),
        Insn::ldx(BPF_W, 5, 1, 0),
        Insn::mov64_reg(0, 3),
        Insn::alu64_reg(BPF_SUB, 0, 2),
        Insn::alu64_reg(BPF_ADD, 0, 4),
        Insn::alu64_reg(BPF_SUB, 0, 2),
        Insn::alu64_imm(BPF_LSH, 0, 16),
        Insn::alu64_reg(BPF_OR, 0, 5),
        Insn::exit(),
    ]);
    l.kind = ProgramKind::Tc;
    let prog = jit::compile(&l).expect("compile");
    let mut vm = Vm::new(Env::new(ProgramKind::Tc, MapSet::default(), World::default()));
    vm.begin_run();
    vm.env.packet.fill(&[0u8; 30]).expect("fits");
    let (head, end) = (vm.env.packet.head as u64, vm.env.packet.end as u64);
    let base = vm.env.packet.buf.as_mut_ptr();
    vm.regions.set(REGION_PKT, Region { base, lo: head, hi: end });
    vm.sync();
    assert_eq!(run_on(&prog, &mut vm), 30 << 16 | 30);
    assert_eq!(vm.fault, None);
}

fn ret_of(insns: &[Insn], packet: &[u8]) -> u64 {
    run_pkt(insns, packet).0
}

#[test]
fn packet_loads_every_width() {
    let packet: Vec<u8> = (0x80..0xc0).collect();
    let load = |size, off, code: u8| {
        let mut c = packet_ptrs().to_vec();
        c.extend([Insn::new(BPF_LDX | size | code, 0, 2, off, 0), Insn::exit()]);
        ret_of(&c, &packet)
    };
    assert_eq!(load(BPF_B, 1, BPF_MEM), 0x81);
    assert_eq!(load(BPF_H, 2, BPF_MEM), 0x8382);
    assert_eq!(load(BPF_W, 4, BPF_MEM), 0x8786_8584);
    assert_eq!(load(BPF_DW, 8, BPF_MEM), 0x8f8e_8d8c_8b8a_8988);
    assert_eq!(load(BPF_DW, 56, BPF_MEM), 0xbfbe_bdbc_bbba_b9b8, "the last 8 bytes");
    // MEMSX
    assert_eq!(load(BPF_B, 1, 0x80), 0xffff_ffff_ffff_ff81);
    assert_eq!(load(BPF_H, 2, 0x80), 0xffff_ffff_ffff_8382);
    assert_eq!(load(BPF_W, 4, 0x80), 0xffff_ffff_8786_8584);
}

#[test]
fn packet_stores_every_width() {
    let mut code = packet_ptrs().to_vec();
    code.extend(Insn::ld_imm64(4, 0x1122_3344_5566_7788));
    code.extend([
        Insn::stx(BPF_B, 2, 0, 4),
        Insn::stx(BPF_H, 2, 2, 4),
        Insn::stx(BPF_W, 2, 4, 4),
        Insn::stx(BPF_DW, 2, 8, 4),
        Insn::st_imm(BPF_B, 2, 16, -1),
        Insn::st_imm(BPF_H, 2, 18, 0x1234),
        Insn::st_imm(BPF_W, 2, 20, 0x0102_0304),
        Insn::st_imm(BPF_DW, 2, 24, -2),
        Insn::mov64_imm(0, 0),
        Insn::exit(),
    ]);
    let (_, vm) = run_pkt(&code, &[0u8; 40]);
    let want: [u8; 32] = [
        0x88, 0, 0x88, 0x77, 0x88, 0x77, 0x66, 0x55, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, //
        0xff, 0, 0x34, 0x12, 0x04, 0x03, 0x02, 0x01, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ];
    assert_eq!(&vm.env.packet.data()[..32], &want);
    assert_eq!(&vm.env.packet.data()[32..], &[0u8; 8]);
}

#[test]
fn out_of_bounds_packet_read_faults() {
    let mut code = packet_ptrs().to_vec();
    code.extend([Insn::ldx(BPF_W, 0, 2, 12), Insn::exit()]);
    let f = fault_of(&code, &[0u8; 14]);
    let addr = vaddr(REGION_PKT, 256 + 12);
    assert_eq!(f, Fault { pc: 2, kind: FaultKind::OutOfBounds { addr, size: 4, store: false } });
    // Before the packet (into the headroom) is outside as well.
    let mut code = packet_ptrs().to_vec();
    code.extend([Insn::st_imm(BPF_B, 2, -1, 7), Insn::mov64_imm(0, 9), Insn::exit()]);
    let f = fault_of(&code, &[0u8; 14]);
    let addr = vaddr(REGION_PKT, 255);
    assert_eq!(f, Fault { pc: 2, kind: FaultKind::OutOfBounds { addr, size: 1, store: true } });
}

#[test]
fn a_fault_stops_the_program() {
    let mut code = packet_ptrs().to_vec();
    code.extend([
        Insn::ldx(BPF_B, 0, 2, 100),
        Insn::st_imm(BPF_B, 2, 0, 0x55),
        Insn::mov64_imm(0, 1),
        Insn::exit(),
    ]);
    let prog = compile(&code);
    let mut vm = vm_with(&[0u8; 4]);
    run_on(&prog, &mut vm);
    assert!(vm.fault.is_some());
    assert_eq!(vm.env.packet.data(), &[0u8; 4], "nothing after the fault ran");
}

#[test]
fn stack_every_width_direct_and_through_a_pointer() {
    let code = [
        Insn::st_imm(BPF_DW, 10, -8, -1),
        Insn::st_imm(BPF_W, 10, -8, 0x1234_5678),
        Insn::st_imm(BPF_H, 10, -6, 0x1111),
        Insn::st_imm(BPF_B, 10, -1, 0x22),
        Insn::ldx(BPF_DW, 0, 10, -8),
        // r4 = r10 - 16: the generic path on the stack region.
        Insn::mov64_reg(4, 10),
        Insn::alu64_imm(BPF_ADD, 4, -16),
        Insn::stx(BPF_DW, 4, 0, 0),
        Insn::ldx(BPF_W, 5, 10, -12),
        Insn::ldx(BPF_H, 6, 4, 6),
        Insn::ldx(BPF_B, 7, 4, 7),
        Insn::stx(BPF_B, 10, -512, 7),
        Insn::ldx(BPF_B, 8, 4, -496),
        Insn::alu64_reg(BPF_SUB, 0, 5),
        Insn::alu64_reg(BPF_SUB, 0, 6),
        Insn::alu64_reg(BPF_SUB, 0, 7),
        Insn::alu64_reg(BPF_SUB, 0, 8),
        Insn::exit(),
    ];
    // Bytes 504..512: 78 56 11 11 ff ff ff 22.
    let full = 0x22ff_ffff_1111_5678u64;
    let want = full - (full >> 32) - (full >> 48) - 0x22 - 0x22;
    let (r0, vm) = run_pkt(&code, &[]);
    assert_eq!(r0, want);
    // SAFETY: frame 0 is the first 512 bytes at `stack`.
    let frame = unsafe { std::slice::from_raw_parts(vm.ctx.stack, 512) };
    assert_eq!(frame[0], 0x22);
    assert_eq!(&frame[496..504], &full.to_le_bytes());
    assert_eq!(&frame[504..512], &full.to_le_bytes());
}

#[test]
fn stack_access_beyond_the_frame_faults() {
    let f = fault_of(&[Insn::ldx(BPF_DW, 0, 10, -520), Insn::exit()], &[]);
    let addr = frame_pointer(0).wrapping_sub(520);
    assert_eq!(f, Fault { pc: 0, kind: FaultKind::OutOfBounds { addr, size: 8, store: false } });
    let f = fault_of(&[Insn::mov64_imm(0, 0), Insn::stx(BPF_W, 10, -2, 0), Insn::exit()], &[]);
    let addr = frame_pointer(0) - 2;
    assert_eq!(f, Fault { pc: 1, kind: FaultKind::OutOfBounds { addr, size: 4, store: true } });
    let f = fault_of(&[Insn::mov64_reg(2, 10), Insn::ldx(BPF_B, 0, 2, 0), Insn::exit()], &[]);
    assert_eq!(f.kind, FaultKind::OutOfBounds { addr: frame_pointer(0), size: 1, store: false });
}

#[test]
fn wild_pointers_fault() {
    for addr in [vaddr(1000, 0), vaddr(u32::MAX, 8), vaddr(0, 0), vaddr(REGION_STACK0 + 20, 0), u64::MAX] {
        let mut code = Insn::ld_imm64(2, addr).to_vec();
        code.extend([Insn::ldx(BPF_B, 0, 2, 0), Insn::exit()]);
        let f = fault_of(&code, &[]);
        assert_eq!(f, Fault { pc: 2, kind: FaultKind::OutOfBounds { addr, size: 1, store: false } });
    }
}

/// `off` may carry a pointer into the next region; the access is then
/// checked against that region, as `vm.rs` defines it.
#[test]
fn offsets_that_carry_into_another_region() {
    let below_stack = vaddr(REGION_STACK0 - 1, 0xffff_fff8);
    let mut code = Insn::ld_imm64(2, below_stack).to_vec();
    code.extend([
        Insn::st_imm(BPF_DW, 10, -504, 0x1234),
        Insn::ldx(BPF_DW, 0, 2, 16),
        Insn::stx(BPF_W, 2, 24, 0),
        Insn::mov64_imm(3, 1),
        atomic(BPF_DW, 2, 16, 3, 0x00),
        Insn::ldx(BPF_DW, 4, 10, -504),
        Insn::alu64_imm(BPF_LSH, 4, 16),
        Insn::alu64_reg(BPF_OR, 0, 4),
        Insn::exit(),
    ]);
    let (r0, vm) = run_pkt(&code, &[]);
    assert_eq!(r0, 0x1235 << 16 | 0x1234);
    // SAFETY: frame 0.
    let frame = unsafe { std::slice::from_raw_parts(vm.ctx.stack, 512) };
    assert_eq!(&frame[16..20], &0x1234u32.to_le_bytes());
}

fn atomic(size: u8, dst: u8, off: i16, src: u8, op: i32) -> Insn {
    Insn::new(BPF_STX | size | BPF_ATOMIC, dst, src, off, op)
}

#[test]
fn atomics() {
    const FETCH: i32 = 1;
    type Apply = fn(u64, u64) -> u64;
    // (op, old, operand, the operation)
    let cases: [(i32, u64, u64, Apply); 5] = [
        (0x00, 0xffff_fff0, 0x20, u64::wrapping_add),
        (0x40, 0xf0, 0x0f, |a, b| a | b),
        (0x50, 0xff, 0x0f, |a, b| a & b),
        (0xa0, 0xff, 0x0f, |a, b| a ^ b),
        (0xe0, 7, 9, |_, b| b),
    ];
    let hi = 0x5555_0000_0000_0000u64;
    for (op, old, operand, apply) in cases {
        let (old, operand) = (hi | old, hi | operand);
        for (size, mask) in [(BPF_DW, u64::MAX), (BPF_W, 0xffff_ffffu64)] {
            for fetch in [0, FETCH] {
                if op == 0xe0 && fetch == 0 {
                    continue;
                }
                let mut code = Insn::ld_imm64(2, old).to_vec();
                code.extend(Insn::ld_imm64(3, operand));
                code.extend([
                    Insn::stx(BPF_DW, 10, -8, 2),
                    atomic(size, 10, -8, 3, op | fetch),
                    Insn::ldx(BPF_DW, 0, 10, -8),
                    Insn::stx(BPF_DW, 10, -16, 3),
                    Insn::exit(),
                ]);
                let (r0, vm) = run_pkt(&code, &[]);
                // A 32-bit operation leaves the high half of memory alone.
                let want = old & !mask | apply(old & mask, operand & mask) & mask;
                assert_eq!(r0, want, "op {op:#x} size {size:#x} fetch {fetch}");
                // SAFETY: frame 0; slot r10 - 16.
                let src = u64::from_le_bytes(unsafe { std::slice::from_raw_parts(vm.ctx.stack.add(496), 8) }.try_into().unwrap());
                let fetched = if fetch == 0 { operand } else { old & mask };
                assert_eq!(src, fetched, "fetched value of op {op:#x} size {size:#x} fetch {fetch}");
            }
        }
    }
    // CMPXCHG: r0 is compared and gets the old value.
    for (expect, stored) in [(40u64, 99u64), (41, 40)] {
        let code = [
            Insn::st_imm(BPF_DW, 10, -8, 40),
            Insn::mov64_imm(0, expect as i32),
            Insn::mov64_imm(3, 99),
            atomic(BPF_DW, 10, -8, 3, 0xf1),
            Insn::ldx(BPF_DW, 4, 10, -8),
            Insn::alu64_imm(BPF_LSH, 4, 8),
            Insn::alu64_reg(BPF_OR, 0, 4),
            Insn::exit(),
        ];
        assert_eq!(ret(&code), stored << 8 | 40);
    }
    // 32-bit CMPXCHG compares the low halves.
    let mut code = Insn::ld_imm64(0, 0xffff_0000_0000_0028).to_vec();
    code.extend([
        Insn::st_imm(BPF_DW, 10, -8, 40),
        Insn::mov64_imm(3, 99),
        atomic(BPF_W, 10, -8, 3, 0xf1),
        Insn::ldx(BPF_DW, 4, 10, -8),
        Insn::alu64_imm(BPF_LSH, 4, 8),
        Insn::alu64_reg(BPF_OR, 0, 4),
        Insn::exit(),
    ]);
    assert_eq!(ret(&code), 99 << 8 | 40);
}

#[test]
fn atomics_on_the_packet() {
    let mut code = packet_ptrs().to_vec();
    code.extend([Insn::mov64_imm(4, 5), atomic(BPF_W, 2, 0, 4, 0x01), Insn::mov64_reg(0, 4), Insn::exit()]);
    let (r0, vm) = run_pkt(&code, &[10, 0, 0, 0, 0xaa]);
    assert_eq!(r0, 10);
    assert_eq!(vm.env.packet.data(), &[15, 0, 0, 0, 0xaa]);
    let mut code = packet_ptrs().to_vec();
    code.extend([Insn::mov64_imm(4, 5), atomic(BPF_W, 2, 2, 4, 0x01), Insn::exit()]);
    let f = fault_of(&code, &[10, 0, 0, 0, 0xaa]);
    assert_eq!(f.kind, FaultKind::OutOfBounds { addr: vaddr(REGION_PKT, 258), size: 4, store: true });
}

#[test]
fn bpf_to_bpf_call_with_its_own_stack() {
    let code = [
        // main: r10-8 = 1000; r0 = f(5); r0 += *(r10-8)
        Insn::st_imm(BPF_DW, 10, -8, 1000),
        Insn::mov64_imm(1, 5),
        Insn::mov64_imm(6, 7),
        Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 4),
        Insn::ldx(BPF_DW, 2, 10, -8),
        Insn::alu64_reg(BPF_ADD, 0, 2),
        Insn::alu64_reg(BPF_ADD, 0, 6),
        Insn::exit(),
        // f(r1): r10-8 = r1 * 10; r6 = 0 (callee-saved in the caller); return r10-8 + 1
        Insn::alu64_imm(BPF_MUL, 1, 10),
        Insn::stx(BPF_DW, 10, -8, 1),
        Insn::mov64_imm(6, 0),
        Insn::ldx(BPF_DW, 0, 10, -8),
        Insn::alu64_imm(BPF_ADD, 0, 1),
        Insn::exit(),
    ];
    let (r0, vm) = run_pkt(&code, &[]);
    assert_eq!(r0, 51 + 1000 + 7);
    // SAFETY: frame 1 is bytes 512..1024 at `stack`.
    let frame1 = unsafe { std::slice::from_raw_parts(vm.ctx.stack.add(512), 512) };
    assert_eq!(&frame1[504..], &50u64.to_le_bytes(), "the callee's frame is depth 1");
}

#[test]
fn call_depth_overflow_is_a_fault() {
    // f calls itself forever.
    let code = [
        Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 1),
        Insn::exit(),
        Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, -1),
        Insn::exit(),
    ];
    let f = fault_of(&code, &[]);
    assert_eq!(f, Fault { pc: 2, kind: FaultKind::CallDepth });
}

#[test]
fn helper_call_faults_unwind() {
    let mut code = packet_ptrs().to_vec();
    code.extend([
        Insn::call_helper(9999),
        Insn::st_imm(BPF_B, 2, 0, 0x55),
        Insn::exit(),
    ]);
    let prog = compile(&code);
    let mut vm = vm_with(&[0u8; 4]);
    run_on(&prog, &mut vm);
    let f = vm.fault.clone().expect("fault");
    assert_eq!(f.pc, 2);
    assert!(matches!(f.kind, FaultKind::Helper { id: 9999, .. }), "{f:?}");
    assert_eq!(vm.env.packet.data(), &[0u8; 4]);
    // A kfunc call carries KFUNC_BASE + its index.
    let code = [Insn::new(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0, 999), Insn::exit()];
    let f = fault_of(&code, &[]);
    assert_eq!(f.pc, 0);
    assert!(matches!(f.kind, FaultKind::Helper { id, .. } if id == nfl_runtime::engine::vm::KFUNC_BASE + 999), "{f:?}");
    // A helper that works: its result is r0, and the program goes on.
    let code = [Insn::mov64_imm(6, 3), Insn::call_helper(5), Insn::alu64_reg(BPF_ADD, 0, 6), Insn::exit()];
    assert_eq!(ret(&code), World::default().clock_ns + 3);
}

#[test]
fn runner_calls_a_function_in_a_frame() {
    let code = [
        Insn::mov64_imm(0, 0),
        Insn::exit(),
        // f(r1, r2) = r1 - r2 + r10 region
        Insn::mov64_reg(0, 1),
        Insn::alu64_reg(BPF_SUB, 0, 2),
        Insn::mov64_reg(3, 10),
        Insn::alu64_imm(BPF_RSH, 3, 32),
        Insn::alu64_reg(BPF_ADD, 0, 3),
        Insn::exit(),
    ];
    let mut l = linked(&code);
    l.funcs = vec![0, 2];
    let prog = jit::compile(&l).expect("compile");
    let mut vm = vm_with(&[]);
    // SAFETY: `vm` is live and unused meanwhile.
    let r0 = unsafe { prog.call(&mut *vm, 2, 8, [50, 8, 0, 0, 0]) };
    assert_eq!(r0, 42 + u64::from(REGION_STACK0 + 8));
    // SAFETY: as above.
    unsafe { prog.call(&mut *vm, 1, 0, [0; 5]) };
    assert!(matches!(vm.fault, Some(Fault { pc: 1, kind: FaultKind::BadInsn { .. } })));
}

fn compile_error(insns: &[Insn]) -> String {
    match jit::compile(&linked(insns)) {
        Err(EngineError::Jit { message, .. }) => message,
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("compiled"),
    }
}

#[test]
fn bad_code_is_a_compile_error() {
    assert!(compile_error(&[Insn::new(0xff, 0, 0, 0, 0), Insn::exit()]).contains("unknown"));
    assert!(compile_error(&[Insn::ja(5), Insn::exit()]).contains("outside"));
    assert!(compile_error(&[Insn::ja(-2), Insn::exit()]).contains("outside"));
    assert!(compile_error(&[Insn::mov64_imm(0, 0)]).contains("falls through"));
    assert!(compile_error(&[Insn::jmp_imm(BPF_JEQ, 0, 0, 0), Insn::exit(), Insn::jmp_imm(BPF_JEQ, 0, 0, -1)]).contains("outside"));
    assert!(compile_error(&[Insn::mov64_imm(10, 0), Insn::exit()]).contains("r10"));
    assert!(compile_error(&[Insn::new(BPF_ALU64 | BPF_END | BPF_X, 0, 0, 0, 0), Insn::exit()]).contains("unknown"));
    assert!(compile_error(&[Insn::to_be(0, 24), Insn::exit()]).contains("width"));
    let mut jump_into_imm64 = vec![Insn::ja(1)];
    jump_into_imm64.extend(Insn::ld_imm64(0, 1));
    jump_into_imm64.push(Insn::exit());
    assert!(compile_error(&jump_into_imm64).contains("LD_IMM64"));
    assert!(compile_error(&[Insn::new(BPF_JMP | BPF_CALL, 0, 3, 0, 0), Insn::exit()]).contains("call"));
    assert!(compile_error(&[atomic(BPF_DW, 10, -8, 1, 0x10), Insn::exit()]).contains("atomic"));
    assert!(compile_error(&[Insn::new(BPF_ALU64 | BPF_MOV | BPF_X, 0, 1, 7, 0), Insn::exit()]).contains("unknown"));
    assert!(compile_error(&[Insn::jmp_reg(BPF_JEQ, 0, 12, 0), Insn::exit()]).contains("register"));
    let mut l = linked(&[Insn::exit()]);
    l.funcs = vec![0, 5];
    assert!(matches!(jit::compile(&l), Err(EngineError::Jit { message, .. }) if message.contains("function starts")));
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 300, ..Default::default() })]

    /// Random straight-line ALU, forward-jump and stack programs give the
    /// reference evaluator's r0 and stack, and the engine's interpreter's.
    #[test]
    fn random_programs_match_the_reference(ops in proptest::collection::vec(jit_ref::op(), 1..40)) {
        let code = jit_ref::assemble(&ops);
        let (want_r0, want_stack) = jit_ref::eval(&code);
        let prog = compile(&code);
        let interp = Interp::new(linked(&code));
        for runner in [&prog as &dyn Runner, &interp] {
            let mut vm = vm_with(&[]);
            // SAFETY: `vm` is live and unused meanwhile.
            let r0 = unsafe { runner.call(&mut *vm, 0, 0, [vaddr(REGION_CTX, 0), 0, 0, 0, 0]) };
            proptest::prop_assert_eq!(&vm.fault, &None);
            proptest::prop_assert_eq!(r0, want_r0);
            // SAFETY: frame 0.
            let frame = unsafe { std::slice::from_raw_parts(vm.ctx.stack, 512) };
            proptest::prop_assert_eq!(frame, &want_stack[..]);
        }
    }
}

#[test]
fn every_example_compiles() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut names: Vec<_> = std::fs::read_dir(&dir).expect("examples").flatten().map(|e| e.path()).collect();
    names.sort();
    let mut compiled = 0;
    for path in names.iter().filter(|p| p.extension().is_some_and(|e| e == "nf")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let src = std::fs::read_to_string(path).expect("read");
        let Ok(build) = nfl_compiler::driver::build(&name, &src, &mut nfl_compiler::frontend::NoModules) else {
            continue; // needs a config
        };
        let image = nfl_runtime::engine::image::read(&build.object).unwrap_or_else(|e| panic!("{name}: {e}"));
        for p in &image.programs {
            let prog = jit::compile(p).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(p.funcs.iter().all(|&f| prog.entry(f).is_some()));
            eprintln!("{name} {}: {} insns, {} functions, compiled in {:?}", p.name, p.insns.len(), p.funcs.len(), prog.compile_time());
            compiled += 1;
        }
    }
    assert!(compiled >= 5, "only {compiled} programs compiled");
}
