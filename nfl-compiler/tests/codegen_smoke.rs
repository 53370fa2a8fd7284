//! Code generation on a hand-built HIR, independent of the front end.

use nfl_compiler::hir::*;
use nfl_syntax::ast::{Hook, Span, VerdictKind};

fn e(kind: ExprKind, ty: Ty) -> Expr {
    Expr { kind, ty, span: Span::default() }
}

fn field(h: u32, f: u32, w: u32) -> Expr {
    e(ExprKind::Field { header: HdrSel::Fixed(HeaderRef { header: HeaderId(h), index: 0 }), field: f }, Ty::UInt(w))
}

fn hir() -> Hir {
    let eth = HeaderInfo {
        name: "ethernet".into(),
        fields: vec![
            FieldInfo { name: "dst".into(), bit_offset: 0, width: 48 },
            FieldInfo { name: "src".into(), bit_offset: 48, width: 48 },
            FieldInfo { name: "ethertype".into(), bit_offset: 96, width: 16 },
        ],
        byte_len: 14,
        stack: None,
        span: Span::default(),
    };
    let ipv4 = HeaderInfo {
        name: "ipv4".into(),
        fields: vec![
            FieldInfo { name: "version".into(), bit_offset: 0, width: 4 },
            FieldInfo { name: "ihl".into(), bit_offset: 4, width: 4 },
            FieldInfo { name: "ttl".into(), bit_offset: 64, width: 8 },
            FieldInfo { name: "protocol".into(), bit_offset: 72, width: 8 },
            FieldInfo { name: "src".into(), bit_offset: 96, width: 32 },
        ],
        byte_len: 20,
        stack: None,
        span: Span::default(),
    };
    let parser = ParserHir {
        name: "p".into(),
        start: StateId(0),
        overflow: nfl_syntax::ast::Overflow::Reject,
        states: vec![
            StateHir {
                name: "start".into(),
                stmts: vec![ParserStmt::Extract { header: HeaderId(0), span: Span::default() }],
                transition: Transition::Select {
                    keys: vec![field(0, 2, 16)],
                    cases: vec![SelectCase {
                        alternatives: vec![vec![Pattern::Value(0x0800)]],
                        target: Target::State(StateId(1)),
                        span: Span::default(),
                    }],
                },
                span: Span::default(),
            },
            StateHir {
                name: "ipv4".into(),
                stmts: vec![ParserStmt::Extract { header: HeaderId(1), span: Span::default() }],
                transition: Transition::Accept,
                span: Span::default(),
            },
        ],
    };
    let valid = e(ExprKind::Valid(HdrSel::Fixed(HeaderRef { header: HeaderId(1), index: 0 })), Ty::Bool);
    let proto_is_udp = e(
        ExprKind::Binary { op: BinOp::Eq, lhs: Box::new(field(1, 3, 8)), rhs: Box::new(e(ExprKind::Const(17), Ty::UInt(8))) },
        Ty::Bool,
    );
    let cond = e(ExprKind::Binary { op: BinOp::And, lhs: Box::new(valid), rhs: Box::new(proto_is_udp) }, Ty::Bool);
    let ttl_dec = e(
        ExprKind::Binary { op: BinOp::Sub, lhs: Box::new(field(1, 2, 8)), rhs: Box::new(e(ExprKind::Const(1), Ty::UInt(8))) },
        Ty::UInt(8),
    );
    let then_block = Block {
        stmts: vec![
            Stmt::Assign {
                place: Place::Field { header: HeaderRef { header: HeaderId(1), index: 0 }, field: 2 },
                value: ttl_dec,
                span: Span::default(),
            },
            Stmt::Verdict { kind: VerdictKind::Drop, span: Span::default() },
        ],
        span: Span::default(),
    };
    Hir {
        name: "smoke".into(),
        hook: Hook::Xdp,
        headers: vec![eth, ipv4],
        metas: vec![],
        locals: vec![],
        actions: vec![],
        tables: vec![],
        counters: vec![],
        maps: vec![],
        meters: vec![],
        pools: vec![],
        maglevs: Vec::new(),
        sketches: vec![],
        queues: vec![],
        config: vec![],
        explain: vec![],
        parser: Some(parser),
        control: Block {
            stmts: vec![Stmt::If { cond, then_block, else_block: None, span: Span::default() }],
            span: Span::default(),
        },
        stage_cuts: vec![],
        cut_points: vec![],
        span: Span::default(),
    }
}

#[test]
fn smoke_program_lowers_to_compact_code() {
    let cg = nfl_compiler::pipeline::codegen(&hir()).expect("codegen");
    let text = nfl_compiler::bpf::disasm::disasm(&cg.insns);
    println!("{}", nfl_compiler::ir::print::print_function(&cg.ir));
    println!("{text}");
    assert_eq!(cg.alloc.n_spilled, 0);
    assert!(cg.insns.len() < 40, "{} insns", cg.insns.len());
    assert!(cg.insns.last().is_some_and(|i| i.code == 0x95 || i.code & 0x07 == 0x05));
}
