//! Map lookups, map value loads/stores, atomic adds and helper calls, lowered
//! from hand-built IR, loaded by the kernel verifier and run with
//! BPF_PROG_TEST_RUN; the map contents are read back through aya.

use nfl_compiler::ir::{
    AtomicOp, BlockData, BlockId, BufData, BufId, Call, CmpOp, CtxField, Exit, Function, Inst, MapDef, MapId, MapKind,
    Operand, Term, VarData, VarId, VarKind,
};
use nfl_compiler::pipeline::codegen_ir;
use nfl_runtime::kernel::require_kernel;
use nfl_syntax::ast::{Hook, Span};

/// A tiny IR assembler for tests.
struct Asm {
    f: Function,
    cur: BlockId,
}

impl Asm {
    fn new(hook: Hook) -> Asm {
        let f = Function {
            name: "ir_maps".into(),
            hook,
            vars: vec![VarData { kind: VarKind::Ctx, name: Some("ctx".into()) }],
            blocks: Vec::new(),
            entry: BlockId(0),
            ctx: VarId(0),
            maps: Vec::new(),
            bufs: Vec::new(),
        };
        let mut a = Asm { f, cur: BlockId(0) };
        a.cur = a.block();
        a
    }

    fn var(&mut self, kind: VarKind) -> VarId {
        self.f.vars.push(VarData { kind, name: None });
        VarId(self.f.vars.len() as u32 - 1)
    }

    fn block(&mut self) -> BlockId {
        self.f.blocks.push(BlockData {
            insts: Vec::new(),
            spans: Vec::new(),
            term: Term::Exit(Exit::Return(0)),
            term_span: Span::default(),
        });
        BlockId(self.f.blocks.len() as u32 - 1)
    }

    fn map(&mut self, name: &str, kind: MapKind, key_size: u32, value_size: u32, max_entries: u32) -> MapId {
        let flags = if kind == MapKind::LpmTrie { 1 } else { 0 };
        self.f.maps.push(MapDef { name: name.into(), kind, key_size, value_size, max_entries, flags });
        MapId(self.f.maps.len() as u32 - 1)
    }

    fn buf(&mut self, size: u32) -> BufId {
        self.f.bufs.push(BufData { size });
        BufId(self.f.bufs.len() as u32 - 1)
    }

    fn push(&mut self, inst: Inst) {
        let b = &mut self.f.blocks[self.cur.index()];
        b.insts.push(inst);
        b.spans.push(Span::default());
    }

    fn term(&mut self, term: Term) {
        self.f.blocks[self.cur.index()].term = term;
    }

    fn at(&mut self, b: BlockId) {
        self.cur = b;
    }

    /// `dst = lookup map[key]`; continues in the hit block with a
    /// `MapValue`, and the miss block returns `miss_ret`.
    fn lookup(&mut self, map: MapId, key: BufId, miss_ret: u32) -> VarId {
        let r = self.var(VarKind::MapValueOrNull);
        self.push(Inst::MapLookup { dst: r, map, key });
        let (hit, miss) = (self.block(), self.block());
        self.term(Term::Branch { op: CmpOp::Eq, lhs: r, rhs: Operand::Imm(0), width: 64, then_bb: miss, else_bb: hit });
        self.at(miss);
        self.term(Term::Exit(Exit::Return(miss_ret)));
        self.at(hit);
        let p = self.var(VarKind::MapValue);
        self.push(Inst::Copy { dst: p, src: r });
        p
    }
}

const XDP_PASS: u32 = 2;
const XDP_DROP: u32 = 1;

/// For each packet:
/// - `stats[0]` (per-CPU array of `{packets, bytes}`): packets += 1,
///   bytes += len;
/// - `seen[ifindex]` (hash, u32 -> u64) = ktime;
/// - `hits[ifindex]` (hash): created with 0 if missing, then atomically += 7;
/// - pass.
fn counting_program() -> Function {
    let mut a = Asm::new(Hook::Xdp);
    let stats = a.map("stats", MapKind::PerCpuArray, 4, 16, 1);
    let seen = a.map("seen", MapKind::Hash, 4, 8, 64);
    let hits = a.map("hits", MapKind::Hash, 4, 8, 64);
    let key = a.buf(4);
    let val = a.buf(8);
    let ctx = a.f.ctx;
    let (data, end) = (a.var(VarKind::PktPtr), a.var(VarKind::PktEnd));
    a.push(Inst::CtxLoad { dst: data, ctx, field: CtxField::Data });
    a.push(Inst::CtxLoad { dst: end, ctx, field: CtxField::DataEnd });
    let len = a.var(VarKind::Scalar);
    a.push(Inst::PktRemaining { dst: len, ptr: data, end });
    let ifindex = a.var(VarKind::Scalar);
    a.push(Inst::CtxLoad { dst: ifindex, ctx, field: CtxField::Ifindex });

    a.push(Inst::BufStore { buf: key, off: 0, bytes: 4, src: Operand::Imm(0) });
    let p = a.lookup(stats, key, XDP_DROP);
    for (off, add) in [(0, Operand::Imm(1)), (8, Operand::Var(len))] {
        let (old, new) = (a.var(VarKind::Scalar), a.var(VarKind::Scalar));
        a.push(Inst::MemLoad { dst: old, ptr: p, off, bytes: 8 });
        a.push(Inst::Alu { op: nfl_compiler::ir::AluOp::Add, dst: new, lhs: old, rhs: add, width: 64 });
        a.push(Inst::MemStore { ptr: p, off, bytes: 8, src: Operand::Var(new) });
    }

    let now = a.var(VarKind::Scalar);
    a.push(Inst::Call { dst: Some(now), call: Call::KtimeNs });
    a.push(Inst::BufStore { buf: key, off: 0, bytes: 4, src: Operand::Var(ifindex) });
    a.push(Inst::BufStore { buf: val, off: 0, bytes: 8, src: Operand::Var(now) });
    a.push(Inst::Call { dst: None, call: Call::MapUpdate { map: seen, key, value: val, flags: 0 } });

    // BPF_NOEXIST: keeps an existing counter.
    a.push(Inst::BufStore { buf: val, off: 0, bytes: 8, src: Operand::Imm(0) });
    a.push(Inst::Call { dst: None, call: Call::MapUpdate { map: hits, key, value: val, flags: 1 } });
    let h = a.lookup(hits, key, XDP_DROP);
    let seven = a.var(VarKind::Scalar);
    a.push(Inst::Const { dst: seven, value: 7 });
    a.push(Inst::Atomic { op: AtomicOp::Add, ptr: h, off: 0, bytes: 8, src: seven });
    a.term(Term::Exit(Exit::Return(XDP_PASS)));
    a.f
}

fn object(func: Function) -> Vec<u8> {
    let (name, hook) = (func.name.clone(), func.hook);
    let cg = codegen_ir(func).expect("codegen");
    nfl_compiler::driver::object_bytes(&name, hook, &cg, Vec::new(), None).expect("object")
}

#[test]
fn counters_hash_updates_and_atomics() {
    if !require_kernel("counters_hash_updates_and_atomics") {
        return;
    }
    let obj = object(counting_program());
    let prog = nfl_runtime::load::load(&obj, None).unwrap_or_else(|e| panic!("load: {e}"));
    let pkt = [0u8; 60];
    let runs = 5u32;
    for _ in 0..runs {
        let r = prog.test_run(&pkt, 1).expect("test run");
        assert_eq!(r.retval, XDP_PASS);
    }
    let ebpf = prog.ebpf();
    let stats: aya::maps::PerCpuArray<_, [u64; 2]> =
        aya::maps::PerCpuArray::try_from(ebpf.map("stats").expect("stats map")).expect("per-cpu array");
    let per_cpu = stats.get(&0, 0).expect("stats[0]");
    let (packets, bytes) = per_cpu.iter().fold((0, 0), |(p, b), v| (p + v[0], b + v[1]));
    assert_eq!((packets, bytes), (u64::from(runs), u64::from(runs) * 60));

    let seen: aya::maps::HashMap<_, u32, u64> =
        aya::maps::HashMap::try_from(ebpf.map("seen").expect("seen map")).expect("hash");
    let entries: Vec<(u32, u64)> = seen.iter().map(|r| r.expect("entry")).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].1 > 0, "ktime stored: {entries:?}");

    let hits: aya::maps::HashMap<_, u32, u64> =
        aya::maps::HashMap::try_from(ebpf.map("hits").expect("hits map")).expect("hash");
    let entries: Vec<(u32, u64)> = hits.iter().map(|r| r.expect("entry")).collect();
    assert_eq!(entries, vec![(entries[0].0, 7 * u64::from(runs))]);
}

/// Keys and values in many live registers across calls: values that must
/// survive a helper call are kept out of r1-r5 (or spilled).
#[test]
fn values_survive_helper_calls() {
    if !require_kernel("values_survive_helper_calls") {
        return;
    }
    let mut a = Asm::new(Hook::Xdp);
    let out = a.map("out", MapKind::Array, 4, 8, 16);
    let key = a.buf(4);
    let val = a.buf(8);
    // Twelve values live across twelve calls (more than r6-r9 can hold).
    let vals: Vec<VarId> = (0..12).map(|_| a.var(VarKind::Scalar)).collect();
    for (i, v) in vals.iter().enumerate() {
        a.push(Inst::Const { dst: *v, value: 1000 + i as u64 });
    }
    for (i, v) in vals.iter().enumerate() {
        a.push(Inst::BufStore { buf: key, off: 0, bytes: 4, src: Operand::Imm(i as u64) });
        a.push(Inst::BufStore { buf: val, off: 0, bytes: 8, src: Operand::Var(*v) });
        a.push(Inst::Call { dst: None, call: Call::MapUpdate { map: out, key, value: val, flags: 0 } });
    }
    // Read one back through a lookup and return it as the verdict's proxy:
    // pass if out[11] == 1011.
    a.push(Inst::BufStore { buf: key, off: 0, bytes: 4, src: Operand::Imm(11) });
    let p = a.lookup(out, key, XDP_DROP);
    let got = a.var(VarKind::Scalar);
    a.push(Inst::MemLoad { dst: got, ptr: p, off: 0, bytes: 8 });
    let (yes, no) = (a.block(), a.block());
    a.term(Term::Branch { op: CmpOp::Eq, lhs: got, rhs: Operand::Imm(1011), width: 64, then_bb: yes, else_bb: no });
    a.at(yes);
    a.term(Term::Exit(Exit::Return(XDP_PASS)));
    a.at(no);
    a.term(Term::Exit(Exit::Return(XDP_DROP)));

    let prog = nfl_runtime::load::load(&object(a.f), None).unwrap_or_else(|e| panic!("load: {e}"));
    assert_eq!(prog.test_run(&[0u8; 60], 1).expect("run").retval, XDP_PASS);
    let arr: aya::maps::Array<_, u64> =
        aya::maps::Array::try_from(prog.ebpf().map("out").expect("out")).expect("array");
    for i in 0..12u32 {
        assert_eq!(arr.get(&i, 0).expect("get"), 1000 + u64::from(i));
    }
}

/// The schema rides in a section loaders skip: aya loads the object, and
/// the schema reads back unchanged.
#[test]
fn schema_section_is_skipped_by_the_loader_and_reads_back() {
    let func = counting_program();
    let (name, hook) = (func.name.clone(), func.hook);
    let cg = codegen_ir(func).expect("codegen");
    let schema = nfl_compiler::schema::Schema {
        version: nfl_compiler::schema::VERSION,
        program: name.clone(),
        hook: "xdp".into(),
        maps: Vec::new(),
        tables: Vec::new(),
        counters: Vec::new(),
        state_maps: Vec::new(),
        meters: Vec::new(),
        pools: Vec::new(),
        maglevs: Vec::new(),
        sketches: Vec::new(),
        queues: Vec::new(),
        stages: None,
        config: vec![("rate".into(), "10".into())],
        initial: Vec::new(),
        entries: Vec::new(),
        explain: vec!["nothing".into()],
    };
    let obj = nfl_compiler::driver::object_bytes(&name, hook, &cg, Vec::new(), Some(&schema)).expect("object");
    let back = nfl_compiler::schema::Schema::from_object(&obj).expect("parse").expect("present");
    assert_eq!(back, schema);
    if !require_kernel("schema_section_is_skipped_by_the_loader_and_reads_back") {
        return;
    }
    nfl_runtime::load::load(&obj, None).unwrap_or_else(|e| panic!("load: {e}"));
}
