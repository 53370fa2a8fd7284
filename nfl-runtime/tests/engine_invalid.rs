//! Bytecode the kernel's verifier would refuse: the engine reports each
//! unsafe access as a fault naming the instruction (and the source line the
//! object's line info gives it), and never touches memory it was not given.

use nfl_compiler::bpf::Insn;
use nfl_compiler::bpf::insn::*;
use nfl_compiler::elf::{CtxKind, LineInfo, MapReloc, MapSpec, ObjectSpec, ProgramSpec, write_object};
use nfl_runtime::engine::vm::FaultKind;
use nfl_runtime::engine::{Engine, Fault, Mode, Options};

fn object(insns: Vec<Insn>, maps: Vec<MapSpec>, map_relocs: Vec<MapReloc>) -> Vec<u8> {
    // Line info may not sit on the second slot of an LD_IMM64.
    let second: Vec<bool> = (0..insns.len()).map(|i| i > 0 && insns[i - 1].is_ld_imm64()).collect();
    let line_info = (0..insns.len())
        .filter(|&i| !second[i])
        .map(|i| LineInfo { insn_idx: i, file_name: "bad.nf".into(), line_text: format!("statement {i}"), line: i as u32 + 1, col: 1 })
        .collect();
    let spec = ObjectSpec {
        programs: vec![ProgramSpec { name: "bad".into(), section: "xdp".into(), ctx: CtxKind::Xdp, insns, map_relocs, line_info }],
        maps,
        ..ObjectSpec::default()
    };
    write_object(&spec).expect("write object")
}

fn frame() -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[12] = 0x08;
    f
}

/// Run `insns` on a 60-byte frame; the fault it must raise.
fn fault_of(insns: Vec<Insn>) -> Fault {
    fault_with(object(insns, Vec::new(), Vec::new()))
}

/// The fault `obj` raises, the same in both modes (the JIT's is returned).
fn fault_with(obj: Vec<u8>) -> Fault {
    let faults: Vec<Fault> = Mode::ALL
        .iter()
        .map(|&mode| {
            let mut e = Engine::new(&obj, Options { mode, ..Options::default() }).expect("engine takes the object");
            let f = e.run(&frame()).expect_err("the engine must stop this program");
            // The engine is intact afterwards: a second run faults the same way.
            assert_eq!(e.run(&frame()).expect_err("again"), f);
            f
        })
        .collect();
    // Loops spend the budget at different instructions in the two modes;
    // every other fault is the same fault.
    if !matches!(faults[0].kind, FaultKind::Limit { .. }) {
        assert!(faults.windows(2).all(|w| w[0] == w[1]), "modes disagree: {faults:#?}");
    }
    faults[0].clone()
}

/// `r2 = ctx->data`, then `rest`.
fn with_data(rest: &[Insn]) -> Vec<Insn> {
    let mut v = vec![Insn::ldx(BPF_W, 2, 1, 0)];
    v.extend_from_slice(rest);
    v
}

#[test]
fn packet_read_past_the_end_is_a_fault_naming_the_instruction_and_line() {
    let f = fault_of(with_data(&[Insn::ldx(BPF_B, 0, 2, 2000), Insn::exit()]));
    assert_eq!(f.pc, 1);
    assert!(matches!(f.kind, FaultKind::OutOfBounds { size: 1, store: false, .. }), "{f:?}");
    assert_eq!(f.line, Some(("statement 1".to_string(), 2)));
    let msg = f.to_string();
    assert!(msg.contains("instruction 1") && msg.contains("r0 = *(u8 *)(r2 +2000)") && msg.contains("line 2"), "{msg}");
}

#[test]
fn a_read_straddling_the_end_of_the_packet_is_a_fault() {
    // 60 bytes: an 8-byte read at 56 crosses data_end; at 52 it does not.
    let ok = object(with_data(&[Insn::ldx(BPF_DW, 0, 2, 52), Insn::mov64_imm(0, 2), Insn::exit()]), Vec::new(), Vec::new());
    assert_eq!(Engine::new(&ok, Options::default()).expect("engine").run(&frame()).expect("runs").retval, 2);
    let f = fault_of(with_data(&[Insn::ldx(BPF_DW, 0, 2, 56), Insn::exit()]));
    assert!(matches!(f.kind, FaultKind::OutOfBounds { size: 8, .. }), "{f:?}");
}

#[test]
fn packet_write_before_the_start_is_a_fault() {
    let f = fault_of(with_data(&[Insn::st_imm(BPF_W, 2, -4, 7), Insn::mov64_imm(0, 2), Insn::exit()]));
    assert!(matches!(f.kind, FaultKind::OutOfBounds { size: 4, store: true, .. }), "{f:?}");
}

#[test]
fn stack_overflow_and_reads_above_the_frame_are_faults() {
    let f = fault_of(vec![Insn::st_imm(BPF_DW, 10, -520, 0), Insn::mov64_imm(0, 2), Insn::exit()]);
    assert!(matches!(f.kind, FaultKind::OutOfBounds { store: true, .. }), "{f:?}");
    let f = fault_of(vec![Insn::ldx(BPF_DW, 0, 10, 0), Insn::exit()]);
    assert!(matches!(f.kind, FaultKind::OutOfBounds { store: false, .. }), "{f:?}");
    // The last byte of the frame is fine.
    let ok = object(vec![Insn::st_imm(BPF_B, 10, -512, 1), Insn::ldx(BPF_B, 0, 10, -512), Insn::exit()], Vec::new(), Vec::new());
    assert_eq!(Engine::new(&ok, Options::default()).expect("engine").run(&frame()).expect("runs").retval, 1);
}

#[test]
fn forged_pointers_reach_nothing() {
    // Far past every region the run has.
    let mut v = with_data(&[]);
    v.extend(Insn::ld_imm64(3, 1000 << 32));
    v.extend([Insn::alu64_reg(BPF_ADD, 2, 3), Insn::ldx(BPF_B, 0, 2, 0), Insn::exit()]);
    let f = fault_of(v);
    assert!(matches!(f.kind, FaultKind::OutOfBounds { .. }), "{f:?}");
    // A host-looking address, and an address in the region of maps (which
    // has no memory).
    for addr in [0x7fff_dead_b000u64, nfl_runtime::engine::vm::vaddr(nfl_runtime::engine::vm::REGION_MAP, 0)] {
        let mut v = Insn::ld_imm64(2, addr).to_vec();
        v.extend([Insn::ldx(BPF_B, 0, 2, 0), Insn::exit()]);
        let f = fault_of(v);
        assert!(matches!(f.kind, FaultKind::OutOfBounds { .. }), "{addr:#x}: {f:?}");
    }
}

#[test]
fn dereferencing_a_failed_map_lookup_is_a_fault() {
    let map = MapSpec { name: "m".into(), map_type: 1, key_size: 4, value_size: 8, max_entries: 4, flags: 0, pinned: false };
    let mut v = vec![Insn::st_imm(BPF_W, 10, -4, 9), Insn::mov64_reg(2, 10), Insn::alu64_imm(BPF_ADD, 2, -4)];
    v.extend(Insn::ld_imm64(1, 0));
    v.extend([Insn::call_helper(1), Insn::ldx(BPF_DW, 0, 0, 0), Insn::exit()]);
    let f = fault_with(object(v, vec![map], vec![MapReloc { insn_idx: 3, map: "m".into() }]));
    assert_eq!(f.pc, 6);
    assert!(matches!(f.kind, FaultKind::OutOfBounds { addr: 0, .. }), "{f:?}");
}

#[test]
fn reading_past_a_map_value_is_a_fault() {
    // An array's value 0 is 8 bytes; byte 8 belongs to nothing the program
    // was given (even though the next value sits there in memory).
    let map = MapSpec { name: "a".into(), map_type: 2, key_size: 4, value_size: 8, max_entries: 4, flags: 0, pinned: false };
    let mut v = vec![Insn::st_imm(BPF_W, 10, -4, 0), Insn::mov64_reg(2, 10), Insn::alu64_imm(BPF_ADD, 2, -4)];
    v.extend(Insn::ld_imm64(1, 0));
    v.extend([
        Insn::call_helper(1),
        Insn::jmp_imm(BPF_JEQ, 0, 0, 2),
        Insn::ldx(BPF_B, 0, 0, 8),
        Insn::exit(),
        Insn::mov64_imm(0, 2),
        Insn::exit(),
    ]);
    let f = fault_with(object(v, vec![map], vec![MapReloc { insn_idx: 3, map: "a".into() }]));
    assert_eq!(f.pc, 7);
    assert!(matches!(f.kind, FaultKind::OutOfBounds { size: 1, .. }), "{f:?}");
}

#[test]
fn unbounded_loops_are_stopped() {
    let f = fault_of(vec![Insn::ja(-1), Insn::exit()]);
    assert!(matches!(f.kind, FaultKind::Limit { .. }), "{f:?}");
}

#[test]
fn runaway_recursion_is_stopped_at_the_kernels_frame_limit() {
    use nfl_runtime::engine::env::{Env, World};
    use nfl_runtime::engine::image::Linked;
    use nfl_runtime::engine::interp::Interp;
    use nfl_runtime::engine::maps::MapSet;
    use nfl_runtime::engine::vm::Vm;
    use nfl_runtime::load::ProgramKind;
    // main: call f; exit. f: call f (itself); exit.
    let mut call_f = Insn::call_subprog();
    call_f.imm = 1;
    let mut call_self = Insn::call_subprog();
    call_self.imm = -1;
    let code = Linked {
        name: "rec".into(),
        kind: ProgramKind::Xdp,
        insns: vec![call_f, Insn::exit(), call_self, Insn::exit()],
        funcs: vec![0, 2],
        value_refs: Vec::new(),
        lines: Vec::new(),
    };
    let mut vm = Vm::new(Env::new(ProgramKind::Xdp, MapSet::default(), World::default()));
    vm.begin_run();
    let interp = Interp::new(code);
    let vmp: *mut Vm = &mut *vm;
    // SAFETY: `vm` is live and not otherwise used during the call.
    unsafe { interp.exec(vmp, 0, 0, [0; 5]) };
    let fault = vm.fault.clone().expect("a fault");
    assert_eq!(fault.kind, FaultKind::CallDepth);
    assert_eq!(fault.pc, 2);
}

#[test]
fn unknown_helpers_context_fields_and_encodings_are_faults() {
    let f = fault_of(vec![Insn::call_helper(9999), Insn::exit()]);
    assert!(matches!(f.kind, FaultKind::Helper { id: 9999, .. }), "{f:?}");
    let f = fault_of(vec![Insn::ldx(BPF_W, 0, 1, 64), Insn::exit()]);
    assert!(matches!(f.kind, FaultKind::BadContext { offset: 64, .. }), "{f:?}");
}

#[test]
fn unknown_encodings_and_running_off_the_end_are_refused() {
    // The interpreter faults when it meets them; the JIT refuses the
    // object before it runs.
    for insns in [vec![Insn { code: 0xff, ..Insn::default() }, Insn::exit()], vec![Insn::mov64_imm(0, 1)]] {
        let obj = object(insns, Vec::new(), Vec::new());
        let mut e = Engine::new(&obj, Options { mode: Mode::Interp, ..Options::default() }).expect("interpreter");
        let f = e.run(&frame()).expect_err("fault");
        assert!(matches!(f.kind, FaultKind::BadInsn { .. }), "{f:?}");
        match Engine::new(&obj, Options { mode: Mode::Jit, ..Options::default() }) {
            Err(nfl_runtime::engine::EngineError::Jit { .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("the JIT compiled an invalid program"),
        }
    }
}

#[test]
fn the_kernel_refuses_what_the_engine_stops() {
    if !nfl_runtime::require_kernel("the_kernel_refuses_what_the_engine_stops") {
        return;
    }
    for insns in [
        with_data(&[Insn::ldx(BPF_B, 0, 2, 2000), Insn::exit()]),
        vec![Insn::st_imm(BPF_DW, 10, -520, 0), Insn::mov64_imm(0, 2), Insn::exit()],
        vec![Insn::ja(-1), Insn::exit()],
    ] {
        let obj = object(insns, Vec::new(), Vec::new());
        assert!(nfl_runtime::load(&obj, Some("bad")).is_err(), "the verifier accepted an unsafe program");
        let mut e = Engine::new(&obj, Options::default()).expect("engine");
        assert!(e.run(&frame()).is_err());
    }
}

#[test]
fn a_packet_too_large_for_the_buffer_blames_no_instruction() {
    let obj = object(vec![Insn::mov64_imm(0, 2), Insn::exit()], Vec::new(), Vec::new());
    let mut e = Engine::new(&obj, Options::default()).expect("engine");
    let f = e.run(&vec![0u8; nfl_runtime::engine::env::MAX_PACKET + 1]).expect_err("too large");
    assert!(matches!(f.kind, FaultKind::Limit { .. }), "{f:?}");
    assert_eq!((f.insn.as_str(), &f.line), ("", &None));
    assert!(!f.to_string().contains("instruction"), "{f}");
    assert_eq!(e.run(&frame()).expect("the engine goes on").retval, 2);
}
