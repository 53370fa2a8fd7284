//! A priority queue on the kernel's own rbtree (`bpf_obj_new_impl`,
//! `bpf_rbtree_add_impl/first/remove`, `bpf_obj_drop_impl` under a
//! `bpf_spin_lock`), written with the object writer's extras and
//! hand-assembled instructions, loaded through aya with the runtime's kfunc
//! resolution, and driven by BPF_PROG_TEST_RUN.
//!
//! Packet (32 bytes, little-endian u64s): in `[cmd, rank, value, _]` with
//! cmd 1 = push, 2 = pop; a pop writes back `[status, rank, value, seq]`,
//! status 1 = popped, 0 = the queue was empty.

use kfunc_lib::XorShift64Star;
use nfl_compiler::bpf::Insn;
use nfl_compiler::bpf::insn::*;
use nfl_compiler::elf::{
    Contains, CtxKind, FieldSpec, FieldType, FuncRef, KernelStruct, KfuncCall, MapReloc, MapSpec,
    MapValue, ObjectExtras, ObjectSpec, ProgramSpec, StructSpec, SubprogKind, SubprogramSpec,
    TypeIdLoad, write_object_with,
};
use nfl_runtime::{load, require_kernel, test_run};

const PUSH: u64 = 1;
const POP: u64 = 2;
const XDP_PASS: u32 = 2;
/// `struct nfl_pq_node { u64 rank; u64 seq; u64 value; struct bpf_rb_node node; }`
const NODE_OFF: i16 = 24;
/// `struct nfl_pq { struct bpf_spin_lock lock; u64 next_seq; struct bpf_rb_root root; }`
const SEQ_OFF: i16 = 8;
const ROOT_OFF: i32 = 16;

/// Instructions with symbolic jump targets.
#[derive(Default)]
struct Asm {
    insns: Vec<Insn>,
    labels: Vec<(&'static str, usize)>,
    jumps: Vec<(usize, &'static str)>,
}

impl Asm {
    fn op(&mut self, i: Insn) -> usize {
        self.insns.push(i);
        self.insns.len() - 1
    }
    fn wide(&mut self, i: [Insn; 2]) -> usize {
        self.insns.extend(i);
        self.insns.len() - 2
    }
    fn label(&mut self, name: &'static str) {
        self.labels.push((name, self.insns.len()));
    }
    fn jump(&mut self, i: Insn, target: &'static str) {
        self.jumps.push((self.insns.len(), target));
        self.insns.push(i);
    }
    fn finish(mut self) -> Vec<Insn> {
        for (at, target) in &self.jumps {
            let (_, to) = self
                .labels
                .iter()
                .find(|(n, _)| n == target)
                .expect("label");
            self.insns[*at].off = (*to as i64 - *at as i64 - 1) as i16;
        }
        self.insns
    }
}

/// `bool less(a, b)`: `(rank, seq)` of `a` lexicographically below `b`'s.
fn less() -> Vec<Insn> {
    let mut a = Asm::default();
    for (field, last) in [(-NODE_OFF, false), (8 - NODE_OFF, true)] {
        a.op(Insn::ldx(BPF_DW, 3, 1, field));
        a.op(Insn::ldx(BPF_DW, 4, 2, field));
        a.op(Insn::mov64_imm(0, 1));
        a.jump(Insn::jmp_reg(BPF_JLT, 3, 4, 0), "out");
        a.op(Insn::mov64_imm(0, 0));
        if !last {
            a.jump(Insn::jmp_reg(BPF_JGT, 3, 4, 0), "out");
        }
    }
    a.label("out");
    a.op(Insn::exit());
    a.finish()
}

/// The XDP program and the extras it needs (kfunc sites, the callback load,
/// the node's type id, the map relocation).
fn program(ex: &mut ObjectExtras) -> (Vec<Insn>, Vec<MapReloc>) {
    let mut a = Asm::default();
    let kfunc = |ex: &mut ObjectExtras, a: &mut Asm, name: &str| {
        let insn_idx = a.op(Insn::call_kfunc());
        ex.kfunc_calls.push(KfuncCall {
            func: "pq".into(),
            insn_idx,
            kfunc: name.into(),
        });
    };
    // r7 = packet (32 bytes checked), r8 = the map value.
    a.op(Insn::ldx(BPF_W, 7, 1, 0));
    a.op(Insn::ldx(BPF_W, 2, 1, 4));
    a.op(Insn::mov64_reg(3, 7));
    a.op(Insn::alu64_imm(BPF_ADD, 3, 32));
    a.jump(Insn::jmp_reg(BPF_JGT, 3, 2, 0), "drop");
    a.op(Insn::st_imm(BPF_W, R10, -4, 0));
    a.op(Insn::mov64_reg(2, R10));
    a.op(Insn::alu64_imm(BPF_ADD, 2, -4));
    let map_idx = a.wide(Insn::ld_imm64(1, 0));
    a.op(Insn::call_helper(1)); // map_lookup_elem
    a.jump(Insn::jmp_imm(BPF_JEQ, 0, 0, 0), "drop");
    a.op(Insn::mov64_reg(8, 0));
    a.op(Insn::ldx(BPF_DW, 1, 7, 0));
    a.jump(Insn::jmp_imm(BPF_JEQ, 1, PUSH as i32, 0), "push");
    a.jump(Insn::jmp_imm(BPF_JEQ, 1, POP as i32, 0), "pop");
    a.label("drop");
    a.op(Insn::mov64_imm(0, 1));
    a.op(Insn::exit());

    a.label("push");
    let insn_idx = a.op(Insn::mov64_imm(1, 0));
    ex.type_id_loads.push(TypeIdLoad {
        func: "pq".into(),
        insn_idx,
        struct_name: "nfl_pq_node".into(),
    });
    a.op(Insn::mov64_imm(2, 0));
    kfunc(ex, &mut a, "bpf_obj_new_impl");
    a.jump(Insn::jmp_imm(BPF_JEQ, 0, 0, 0), "drop");
    a.op(Insn::mov64_reg(9, 0));
    for off in [8, 16] {
        // rank -> node.rank (0), value -> node.value (16)
        a.op(Insn::ldx(BPF_DW, 1, 7, off));
        a.op(Insn::stx(BPF_DW, 9, if off == 8 { 0 } else { 16 }, 1));
    }
    a.op(Insn::mov64_reg(1, 8));
    a.op(Insn::call_helper(93)); // spin_lock
    a.op(Insn::ldx(BPF_DW, 1, 8, SEQ_OFF));
    a.op(Insn::stx(BPF_DW, 9, 8, 1));
    a.op(Insn::alu64_imm(BPF_ADD, 1, 1));
    a.op(Insn::stx(BPF_DW, 8, SEQ_OFF, 1));
    a.op(Insn::mov64_reg(1, 8));
    a.op(Insn::alu64_imm(BPF_ADD, 1, ROOT_OFF));
    a.op(Insn::mov64_reg(2, 9));
    a.op(Insn::alu64_imm(BPF_ADD, 2, i32::from(NODE_OFF)));
    let insn_idx = a.wide(Insn::ld_func(3));
    ex.func_refs.push(FuncRef {
        func: "pq".into(),
        insn_idx,
        target: "pq_less".into(),
    });
    a.op(Insn::mov64_imm(4, 0));
    a.op(Insn::mov64_imm(5, 0));
    kfunc(ex, &mut a, "bpf_rbtree_add_impl");
    a.op(Insn::mov64_reg(1, 8));
    a.op(Insn::call_helper(94)); // spin_unlock
    a.op(Insn::mov64_imm(0, XDP_PASS as i32));
    a.op(Insn::exit());

    a.label("pop");
    a.op(Insn::mov64_reg(1, 8));
    a.op(Insn::call_helper(93));
    a.op(Insn::mov64_reg(1, 8));
    a.op(Insn::alu64_imm(BPF_ADD, 1, ROOT_OFF));
    kfunc(ex, &mut a, "bpf_rbtree_first");
    a.jump(Insn::jmp_imm(BPF_JEQ, 0, 0, 0), "empty_locked");
    a.op(Insn::mov64_reg(1, 8));
    a.op(Insn::alu64_imm(BPF_ADD, 1, ROOT_OFF));
    a.op(Insn::mov64_reg(2, 0));
    kfunc(ex, &mut a, "bpf_rbtree_remove");
    a.op(Insn::mov64_reg(9, 0));
    a.op(Insn::mov64_reg(1, 8));
    a.op(Insn::call_helper(94));
    a.jump(Insn::jmp_imm(BPF_JEQ, 9, 0, 0), "empty");
    a.op(Insn::alu64_imm(BPF_ADD, 9, -i32::from(NODE_OFF))); // container_of
    for (node_off, pkt_off) in [(0, 8), (16, 16), (8, 24)] {
        a.op(Insn::ldx(BPF_DW, 1, 9, node_off));
        a.op(Insn::stx(BPF_DW, 7, pkt_off, 1));
    }
    a.op(Insn::st_imm(BPF_DW, 7, 0, 1));
    a.op(Insn::mov64_reg(1, 9));
    a.op(Insn::mov64_imm(2, 0));
    kfunc(ex, &mut a, "bpf_obj_drop_impl");
    a.op(Insn::mov64_imm(0, XDP_PASS as i32));
    a.op(Insn::exit());
    a.label("empty_locked");
    a.op(Insn::mov64_reg(1, 8));
    a.op(Insn::call_helper(94));
    a.label("empty");
    a.op(Insn::st_imm(BPF_DW, 7, 0, 0));
    a.op(Insn::mov64_imm(0, XDP_PASS as i32));
    a.op(Insn::exit());
    (
        a.finish(),
        vec![MapReloc {
            insn_idx: map_idx,
            map: "pq_state".into(),
        }],
    )
}

fn field(name: &str, ty: FieldType) -> FieldSpec {
    FieldSpec::new(name, ty)
}

/// The whole object: program `pq`, callback `pq_less`, map `pq_state`.
fn pq_object() -> Vec<u8> {
    let mut ex = ObjectExtras::default();
    let node = StructSpec {
        name: "nfl_pq_node".into(),
        fields: vec![
            field("rank", FieldType::U64),
            field("seq", FieldType::U64),
            field("value", FieldType::U64),
            field("node", FieldType::Kernel(KernelStruct::RbNode)),
        ],
    };
    let mut root = field("root", FieldType::Kernel(KernelStruct::RbRoot));
    root.contains = Some(Contains {
        node_struct: "nfl_pq_node".into(),
        node_field: "node".into(),
    });
    let head = StructSpec {
        name: "nfl_pq".into(),
        fields: vec![
            field("lock", FieldType::Kernel(KernelStruct::SpinLock)),
            field("next_seq", FieldType::U64),
            root,
        ],
    };
    assert_eq!(node.offset_of("node"), Some(NODE_OFF as u32));
    assert_eq!(
        (head.offset_of("next_seq"), head.offset_of("root")),
        (Some(8), Some(16))
    );
    let value_size = head.layout().size;
    ex.structs = vec![node, head];
    ex.map_values.push(MapValue {
        map: "pq_state".into(),
        value_struct: "nfl_pq".into(),
    });
    ex.subprograms.push(SubprogramSpec {
        name: "pq_less".into(),
        kind: SubprogKind::RbLess,
        insns: less(),
        map_relocs: Vec::new(),
        line_info: Vec::new(),
    });
    let (insns, map_relocs) = program(&mut ex);
    let spec = ObjectSpec {
        programs: vec![ProgramSpec {
            name: "pq".into(),
            section: "xdp".into(),
            ctx: CtxKind::Xdp,
            insns,
            map_relocs,
            line_info: Vec::new(),
        }],
        maps: vec![MapSpec {
            name: "pq_state".into(),
            map_type: 2, // BPF_MAP_TYPE_ARRAY
            key_size: 4,
            value_size,
            max_entries: 1,
            flags: 0,
            pinned: false,
        }],
        ..ObjectSpec::default()
    };
    write_object_with(&spec, &ex).expect("write pq object")
}

fn packet(words: [u64; 4]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn words(data: &[u8]) -> [u64; 4] {
    let w = |i: usize| u64::from_le_bytes(data[i * 8..i * 8 + 8].try_into().unwrap());
    [w(0), w(1), w(2), w(3)]
}


#[test]
fn rbtree_priority_queue_pops_in_rank_then_push_order() {
    if !require_kernel("rbtree_priority_queue_pops_in_rank_then_push_order") {
        return;
    }
    let prog = load(&pq_object(), Some("pq")).unwrap_or_else(|e| {
        let log = e
            .verifier_log()
            .map(nfl_runtime::trim_verifier_log)
            .unwrap_or_default();
        panic!("load: {e}\n{log}")
    });
    eprintln!(
        "pq: verifier processed {:?} insns, {} xlated",
        prog.verified_insns(),
        prog.xlated_insn_count()
    );
    let run = |w: [u64; 4]| {
        let res = test_run(prog.fd(), &packet(w), 1).expect("test run");
        assert_eq!(res.retval, XDP_PASS, "command {w:?}");
        words(&res.data_out)
    };
    assert_eq!(
        run([POP, 7, 7, 7])[0],
        0,
        "pop on an empty queue says empty"
    );

    const N: u64 = 10_000;
    let mut rng = XorShift64Star::new(0x6e66_6c5f_7071_0001);
    let mut reference = Vec::new();
    for seq in 0..N {
        let rank = rng.next_u64() % 500; // many duplicates
        let value = rng.next_u64();
        run([PUSH, rank, value, 0]);
        reference.push((rank, seq, value));
    }
    reference.sort();
    for (i, (rank, seq, value)) in reference.iter().enumerate() {
        let got = run([POP, 0, 0, 0]);
        assert_eq!(got, [1, *rank, *value, *seq], "pop #{i}");
    }
    assert_eq!(
        run([POP, 1, 1, 1]),
        [0, 1, 1, 1],
        "the queue is empty again"
    );
    // Sequence numbers keep counting after the queue drained.
    run([PUSH, 3, 33, 0]);
    assert_eq!(run([POP, 0, 0, 0]), [1, 3, 33, N]);
}

#[test]
fn missing_kfunc_is_named() {
    let err = nfl_runtime::kfunc::KfuncError::Missing("bpf_no_such_kfunc".into());
    let load_err = nfl_runtime::LoadError::from(err);
    let msg = load_err.to_string();
    assert!(
        msg.contains("bpf_no_such_kfunc") && msg.contains("lacks kfunc"),
        "{msg}"
    );
    if !require_kernel("missing_kfunc_is_named") {
        return;
    }
    assert!(matches!(
        nfl_runtime::kfunc::resolve("bpf_no_such_kfunc"),
        Err(nfl_runtime::kfunc::KfuncError::Missing(_))
    ));
    assert!(nfl_runtime::kfunc::resolve("bpf_rbtree_add_impl").is_ok_and(|id| id > 0));
}

/// libbpf (through bpftool) loads the same object from its `.ksyms` externs
/// and relocations alone, without nfl-runtime's kfunc patching.
#[test]
fn bpftool_loads_the_rbtree_object() {
    if !require_kernel("bpftool_loads_the_rbtree_object") {
        return;
    }
    let has_bpftool = std::process::Command::new("bpftool")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_bpftool {
        assert!(
            std::env::var("NFL_REQUIRE_KERNEL").as_deref() != Ok("1"),
            "bpftool is not installed"
        );
        eprintln!("=== SKIPPED: bpftool is not installed ===");
        return;
    }
    let bpffs = nfl_runtime::ensure_bpffs().expect("bpffs");
    let dir = tempfile::tempdir().expect("tempdir");
    let obj = dir.path().join("pq.o");
    std::fs::write(&obj, pq_object()).expect("write object");
    let pin = bpffs.join(format!("nfl-test-rbtree-{}", std::process::id()));
    let out = std::process::Command::new("bpftool")
        .args(["prog", "load"])
        .arg(&obj)
        .arg(&pin)
        .output()
        .expect("run bpftool");
    let _ = std::fs::remove_file(&pin);
    assert!(
        out.status.success(),
        "bpftool prog load failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
