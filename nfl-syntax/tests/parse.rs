//! Parser tests: AST shape for the tricky parts of the grammar, spans, ids,
//! recovery, and snapshots of ASTs and rendered diagnostics.

mod common;

use common::*;
use nfl_syntax::ast::*;
use nfl_syntax::{Diagnostic, parse};

fn states(text: &str) -> Vec<StateDecl> {
    let module = parse_ok(text);
    module
        .items
        .into_iter()
        .find_map(|i| match i {
            Item::Parser(p) => Some(p.states),
            _ => None,
        })
        .expect("a parser")
}

fn select_of(state: &StateDecl) -> &Select {
    match &state.transition {
        Some(Transition::Select(s)) => s,
        other => panic!("expected a select, got {other:?}"),
    }
}

// ------------------------------------------------------------------ expressions

#[test]
fn precedence_follows_the_reference() {
    assert_eq!(e("a || b && c"), "(|| a (&& b c))");
    assert_eq!(e("a && b || c"), "(|| (&& a b) c)");
    assert_eq!(e("a == b && c != d"), "(&& (== a b) (!= c d))");
    assert_eq!(e("a | b == c ^ d"), "(== (| a b) (^ c d))");
    assert_eq!(e("a | b ^ c & d"), "(| a (^ b (& c d)))");
    assert_eq!(e("a & b << c"), "(& a (<< b c))");
    assert_eq!(e("a << b + c"), "(<< a (+ b c))");
    assert_eq!(e("a + b * c - d / e % f"), "(- (+ a (* b c)) (% (/ d e) f))");
    assert_eq!(e("-a * b"), "(* (- a) b)");
    assert_eq!(e("-x as u16"), "(- (as x u16))");
    assert_eq!(e("!h.valid"), "(! h.valid)");
    assert_eq!(e("~a[1].b as u8 as u16"), "(~ (as (as a[1].b u8) u16))");
    assert_eq!(e("(a + b) * c"), "(* (+ a b) c)");
    assert_eq!(e("a - b - c"), "(- (- a b) c)");
    assert_eq!(e("a < b || c >= d && e <= f"), "(|| (< a b) (&& (>= c d) (<= e f)))");
    assert_eq!(e("a >> 2 > b"), "(> (>> a 2) b)");
    assert_eq!(e("!!true"), "(! (! true))");
}

#[test]
fn skip_amount_from_the_ipv4_header_length() {
    let s = states("parser p { state s { skip ((ipv4.ihl as u16) - 5) * 4\n accept } }");
    let ParserStmt::Skip { amount, .. } = &s[0].body[0] else { panic!("{:?}", s[0].body) };
    assert_eq!(sexp(amount), "(* (- (as ipv4.ihl u16) 5) 4)");
}

#[test]
fn literals() {
    assert_eq!(e("1_000_000"), "1000000");
    assert_eq!(e("0x0800"), "2048");
    assert_eq!(e("0b1010"), "10");
    assert_eq!(e("0xffff_ffff_ffff_ffff"), "18446744073709551615");
    assert_eq!(e("198.18.0.1"), "ip:0xc6120001");
    assert_eq!(e("02:00:00:00:00:01"), "mac:0x20000000001");
    assert_eq!(e("0.001"), "1e-3");
    assert_eq!(e("12.50"), "1250e-2");
    assert_eq!(e("aa:BB:cc:dd:ee:ff"), "mac:0xaabbccddeeff");
    assert_eq!(e("true && false"), "(&& true false)");
}

#[test]
fn ipv4_literal_versus_fields_and_ranges() {
    assert_eq!(e("ipv4.ttl"), "ipv4.ttl");
    assert_eq!(e("x in 0..1024"), "(in x (.. 0 1024))");
    assert_eq!(e("x in 10.0.0.1..=10.0.0.9"), "(in x (..= ip:0xa000001 ip:0xa000009))");
    // Two parts are a decimal fraction (sketch sizing; the checker refuses
    // it as a value, E0342); three or five parts are nothing.
    assert!(codes("const X = 1.5").is_empty());
    assert_eq!(e("0.25"), "25e-2");
    assert_eq!(codes("const X = 1.2.3"), ["nfl::E0103"]);
    assert_eq!(codes("const X = 1.2.3.4.5"), ["nfl::E0103"]);
    assert_eq!(codes("const X = 300.1.1.1"), ["nfl::E0103"]);
    assert_eq!(codes("const X = 1.2.3.256"), ["nfl::E0103"]);
}

#[test]
fn in_patterns() {
    assert_eq!(e("ipv4.src in 198.18.0.0/15"), "(in ipv4.src (prefix ip:0xc6120000 15))");
    assert_eq!(e("p in {22, 80, 443, 8000..=8100}"), "(in p {22, 80, 443, (..= 8000 8100)})");
    assert_eq!(e("p in {22 80; 1 | 2}"), "(in p {22, 80, 1, 2})");
    assert_eq!(e("p in 1 | 2"), "(in p {1, 2})");
    assert_eq!(e("t in 0x0800 &&& 0xff00"), "(in t (mask 2048 65280))");
    assert_eq!(e("t in _"), "(in t _)");
    assert_eq!(e("t in N + 1"), "(in t (+ N 1))");
    assert_eq!(e("t in NET/8"), "(in t (prefix NET 8))");
    // Only `OPERAND / NUMBER` is a prefix; anything more is arithmetic.
    assert_eq!(e("t in 16/2+1"), "(in t (+ (/ 16 2) 1))");
    assert_eq!(e("t in (16/2)"), "(in t (/ 16 2))");
    // `in` binds like a comparison: looser than `|`, tighter than `&&`.
    assert_eq!(e("a in {1} && b in 2..3 || c"), "(|| (&& (in a {1}) (in b (.. 2 3))) c)");
    assert_eq!(e("a + 1 in {1}"), "(in (+ a 1) {1})");
}

#[test]
fn comparisons_do_not_chain() {
    assert_eq!(codes("const X = a == b == c"), ["nfl::E0106"]);
    assert_eq!(codes("const X = a < b in {1}"), ["nfl::E0106"]);
    assert_eq!(codes("const X = a in {1} == b"), ["nfl::E0106"]);
    assert!(codes("const X = (a == b) == c").is_empty());
}

// ------------------------------------------------------------------ parsers

fn case_strings(sel: &Select) -> Vec<String> {
    sel.cases
        .iter()
        .map(|c| {
            let alts: Vec<String> =
                c.alternatives.iter().map(|a| a.iter().map(pat).collect::<Vec<_>>().join(", ")).collect();
            let target = match &c.target {
                Target::Accept(_) => "accept".to_string(),
                Target::Reject(_) => "reject".to_string(),
                Target::State(n) => n.name.clone(),
            };
            format!("{} -> {target}", alts.join(" | "))
        })
        .collect()
}

#[test]
fn select_cases_are_not_mac_literals() {
    let s = states(
        "parser p { state start { select t {
            0x0800: parse_ipv4
            80: http
            0x8100 | 0x88a8: vlan
            aa:bb:cc:dd:ee:ff: accept
            ETH_P_ARP: arp, 10.0.0.0/8: ten; 1..=5: small
            _: reject
        } } }",
    );
    assert_eq!(
        case_strings(select_of(&s[0])),
        [
            "2048 -> parse_ipv4",
            "80 -> http",
            "33024 | 34984 -> vlan",
            "mac:0xaabbccddeeff -> accept",
            "ETH_P_ARP -> arp",
            "(prefix ip:0xa000000 8) -> ten",
            "(..= 1 5) -> small",
            "_ -> reject",
        ]
    );
}

#[test]
fn tuple_selects() {
    let s = states(
        "parser p { state s { select (ipv4.version, ipv4.ihl) {
            (4, 5): a
            (4, 6..=15) | (_, 0x10 &&& 0xf0): b
            (0x1,2,): c
            _: reject
        } } }",
    );
    let sel = select_of(&s[0]);
    assert_eq!(sel.keys.iter().map(sexp).collect::<Vec<_>>(), ["ipv4.version", "ipv4.ihl"]);
    assert_eq!(
        case_strings(sel),
        ["4, 5 -> a", "4, (..= 6 15) | _, (mask 16 240) -> b", "1, 2 -> c", "_ -> reject"]
    );
    // A parenthesized single key is one key, not a tuple.
    let s = states("parser p { state s { select (a + 1) * 2 { 0: accept } } }");
    assert_eq!(select_of(&s[0]).keys.iter().map(sexp).collect::<Vec<_>>(), ["(* (+ a 1) 2)"]);
}

#[test]
fn states_statements_and_transitions() {
    let s = states(
        "parser p {
            state start { extract ethernet; extract vlan, goto next }
            state next { accept }
            state bad { reject; }
            state open { extract x }
        }",
    );
    assert_eq!(s.len(), 4);
    assert!(matches!(&s[0].body[..], [ParserStmt::Extract { header, .. }, ParserStmt::Extract { .. }] if header.name == "ethernet"));
    assert!(matches!(&s[0].transition, Some(Transition::Goto(n)) if n.name == "next"));
    assert!(matches!(s[1].transition, Some(Transition::Accept(_))));
    assert!(matches!(s[2].transition, Some(Transition::Reject(_))));
    // No transition is the checker's business, not a syntax error.
    assert!(s[3].transition.is_none());
}

#[test]
fn header_stacks_and_last() {
    let module = parse_ok("header vlan[2] { pcp: u3, dei: u1, vid: u12, ethertype: u16 }");
    let Some(Item::Header(h)) = module.items.first() else { panic!() };
    assert_eq!(h.stack.map(|(n, _)| n), Some(2));
    assert_eq!(
        h.fields.iter().map(|f| (f.name.name.as_str(), f.ty.ty)).collect::<Vec<_>>(),
        [("pcp", Type::UInt(3)), ("dei", Type::UInt(1)), ("vid", Type::UInt(12)), ("ethertype", Type::UInt(16))]
    );
    assert_eq!(e("vlan.last.ethertype"), "vlan.last.ethertype");
    assert_eq!(e("vlan[0].vid + vlan[i + 1].vid"), "(+ vlan[0].vid vlan[(+ i 1)].vid)");
}

// ------------------------------------------------------------------ control

#[test]
fn else_if_chains_nest_in_the_else_branch() {
    let text = "control c(xdp) {
    if a { drop } else if b { tx } else if c { abort } else { pass }
}";
    let body = control_body(text);
    let [Stmt::If { cond, else_block: Some(ElseBranch::If(second)), span, .. }] = &body[..] else { panic!("{body:?}") };
    assert_eq!(sexp(cond), "a");
    assert_eq!(&text[span.range()], "if a { drop } else if b { tx } else if c { abort } else { pass }");
    let Stmt::If { cond, else_block: Some(ElseBranch::If(third)), span, .. } = &**second else { panic!() };
    assert_eq!(sexp(cond), "b");
    assert_eq!(&text[span.range()], "if b { tx } else if c { abort } else { pass }");
    let Stmt::If { cond, else_block: Some(ElseBranch::Block(last)), then_block, .. } = &**third else { panic!() };
    assert_eq!(sexp(cond), "c");
    assert!(matches!(then_block.stmts[..], [Stmt::Verdict { kind: VerdictKind::Abort, .. }]));
    assert!(matches!(last.stmts[..], [Stmt::Verdict { kind: VerdictKind::Pass, .. }]));
}

#[test]
fn assignments_and_calls() {
    let body = control_body(
        "control c(tc) {
            ipv4.ttl = 64
            meta.count += 1; meta.count -= 1; vlan[0].vid &= 0xfff
            meta.flags |= 0b1, meta.flags ^= 2
            let x: u16 = 3
            let y = x
            bump(1, meta.count)
            nothing()
            redirect(pkt.ifindex + 1)
        }",
    );
    let shapes: Vec<String> = body
        .iter()
        .map(|s| match s {
            Stmt::Assign { target, op, value, .. } => {
                format!("{} {}= {}", sexp(target), op.map(|o| o.symbol()).unwrap_or(""), sexp(value))
            }
            Stmt::Let { name, ty, value, .. } => format!("let {}: {:?} = {}", name.name, ty.as_ref().map(|t| t.ty), sexp(value)),
            Stmt::Call { callee, args, .. } => {
                format!("{}({})", callee.name, args.iter().map(sexp).collect::<Vec<_>>().join(", "))
            }
            Stmt::Redirect { ifindex, .. } => format!("redirect({})", sexp(ifindex)),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        shapes,
        [
            "ipv4.ttl = 64",
            "meta.count += 1",
            "meta.count -= 1",
            "vlan[0].vid &= 4095",
            "meta.flags |= 1",
            "meta.flags ^= 2",
            "let x: Some(u16) = 3",
            "let y: None = x",
            "bump(1, meta.count)",
            "nothing()",
            "redirect((+ pkt.ifindex 1))",
        ]
    );
}

#[test]
fn control_header_forms() {
    let module = parse_ok("control a(xdp) { }\ncontrol b(tc, std_parse) { pass }");
    let controls: Vec<(String, Hook, Option<String>)> = module
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Control(c) => Some((c.name.name.clone(), c.hook, c.parser.as_ref().map(|p| p.name.clone()))),
            _ => None,
        })
        .collect();
    assert_eq!(
        controls,
        [("a".to_string(), Hook::Xdp, None), ("b".to_string(), Hook::Tc, Some("std_parse".to_string()))]
    );
    assert_eq!(codes("control a(tcx) { }"), ["nfl::E0107"]);
}

#[test]
fn separators_are_optional() {
    let a = parse_ok("header h { a: u8 b: u8; c: u8, }\nmeta { x: u8 y: bool }");
    let b = parse_ok("header h {\n  a: u8\n  b: u8\n  c: u8\n}\nmeta {\n  x: u8\n  y: bool\n}");
    let fields = |m: &Module| -> Vec<Vec<String>> {
        m.items
            .iter()
            .map(|i| match i {
                Item::Header(h) => h.fields.iter().map(|f| f.name.name.clone()).collect(),
                Item::Meta(m) => m.fields.iter().map(|f| f.name.name.clone()).collect(),
                _ => vec![],
            })
            .collect()
    };
    assert_eq!(fields(&a), fields(&b));
    assert_eq!(fields(&a), [vec!["a", "b", "c"], vec!["x", "y"]]);
    parse_ok("control c(xdp) { let a = 1; let b = 2 if a == b { drop }; pass; }");
    parse_ok("action f(a: u8 b: u16,) { }");
}

#[test]
fn keywords_are_not_names() {
    assert_eq!(codes("control c(xdp) { let pass = 1 }"), ["nfl::E0104"]);
    assert_eq!(codes("header in { a: u8 }"), ["nfl::E0104"]);
    assert_eq!(codes("header h { select: u8 }"), ["nfl::E0104"]);
    assert_eq!(codes("action f(as: u8) { }"), ["nfl::E0104"]);
    assert_eq!(codes("parser p { state s { extract if\n accept } }"), ["nfl::E0104"]);
    assert_eq!(codes("const X = a.in"), ["nfl::E0104"]);
    // Names that merely start with a keyword are fine.
    parse_ok("control c(xdp) { let passed = 1; let iffy = 2; let tx_count = 3; let meta_x = 4 }");
}

#[test]
fn types() {
    let module = parse_ok("header h { a: u1, b: u64, c: u0, d: u65, e: bool, f: u4294967295 }");
    let Some(Item::Header(h)) = module.items.first() else { panic!() };
    // Widths are kept as written; the checker reports 0 and 65.
    assert_eq!(
        h.fields.iter().map(|f| f.ty.ty).collect::<Vec<_>>(),
        [Type::UInt(1), Type::UInt(64), Type::UInt(0), Type::UInt(65), Type::Bool, Type::UInt(u32::MAX)]
    );
    assert_eq!(codes("header h { a: u4294967296 }"), ["nfl::E0105"]);
    assert_eq!(codes("header h { a: int, b: u, c: U8, d: u8x }"), ["nfl::E0105"; 4]);
    assert_eq!(codes("header h { a: 8 }"), ["nfl::E0105"]);
    assert_eq!(codes("const X = 1 as int"), ["nfl::E0105"]);
}

#[test]
fn integer_literals_out_of_range() {
    assert_eq!(codes("const X = 18446744073709551616"), ["nfl::E0103"]);
    assert_eq!(codes("const X = 0x1_0000_0000_0000_0000"), ["nfl::E0103"]);
    assert_eq!(codes("const X = 0x"), ["nfl::E0103"]);
    assert_eq!(codes("const X = 0b102"), ["nfl::E0103"]);
    assert_eq!(codes("const X = 12abc"), ["nfl::E0103"]);
    assert_eq!(codes("header h[99999999999999999999] { a: u8 }"), ["nfl::E0103"]);
    assert_eq!(codes("const X = 2:00:00:00:00:01"), ["nfl::E0103"]);
    assert_eq!(codes("const X = x in 1.2.3.4/99999999999"), ["nfl::E0103"]);
}

// ------------------------------------------------------------------ spans and ids

#[test]
fn spans_cover_exactly_their_text() {
    let text = "const X: u32 = (a + b) * c // comment\n\nheader h { f: u8 } /* c */\n";
    let module = parse_ok(text);
    let Some(Item::Const(c)) = module.items.first() else { panic!() };
    assert_eq!(&text[c.span.range()], "const X: u32 = (a + b) * c");
    assert_eq!(&text[c.value.span.range()], "(a + b) * c");
    assert_eq!(&text[c.name.span.range()], "X");
    assert_eq!(&text[c.ty.as_ref().map(|t| t.span).unwrap_or_default().range()], "u32");
    let ExprKind::Binary { lhs, .. } = &c.value.kind else { panic!() };
    assert_eq!(&text[lhs.span.range()], "(a + b)");
    let Some(Item::Header(h)) = module.items.get(1) else { panic!() };
    assert_eq!(&text[h.span.range()], "header h { f: u8 }");
    assert_eq!(&text[h.fields[0].span.range()], "f: u8");
}

#[test]
fn expression_ids_are_dense_and_unique() {
    let module = parse_ok(DOC_PARSER);
    let mut ids = Vec::new();
    fn collect_expr(e: &Expr, ids: &mut Vec<u32>) {
        ids.push(e.id.0);
        match &e.kind {
            ExprKind::Field { base, .. } => collect_expr(base, ids),
            ExprKind::Index { base, index } => {
                collect_expr(base, ids);
                collect_expr(index, ids);
            }
            ExprKind::Unary { operand, .. } => collect_expr(operand, ids),
            ExprKind::Binary { lhs, rhs, .. } => {
                collect_expr(lhs, ids);
                collect_expr(rhs, ids);
            }
            ExprKind::Cast { expr, .. } => collect_expr(expr, ids),
            ExprKind::In { expr, pattern } => {
                collect_expr(expr, ids);
                collect_pat(pattern, ids);
            }
            _ => {}
        }
    }
    fn collect_pat(p: &Pattern, ids: &mut Vec<u32>) {
        match p {
            Pattern::Wildcard(_) => {}
            Pattern::Value(e) | Pattern::Prefix { addr: e, .. } => collect_expr(e, ids),
            Pattern::Mask { value: a, mask: b, .. } | Pattern::Range { lo: a, hi: b, .. } => {
                collect_expr(a, ids);
                collect_expr(b, ids);
            }
            Pattern::Set { items, .. } => items.iter().for_each(|p| collect_pat(p, ids)),
        }
    }
    fn collect_block(b: &Block, ids: &mut Vec<u32>) {
        for s in &b.stmts {
            match s {
                Stmt::Let { value, .. } => collect_expr(value, ids),
                Stmt::Assign { target, value, .. } => {
                    collect_expr(target, ids);
                    collect_expr(value, ids);
                }
                Stmt::If { cond, then_block, else_block, .. } => {
                    collect_expr(cond, ids);
                    collect_block(then_block, ids);
                    match else_block {
                        Some(ElseBranch::Block(b)) => collect_block(b, ids),
                        Some(ElseBranch::If(s)) => {
                            collect_block(&Block { stmts: vec![(**s).clone()], span: Span::default() }, ids)
                        }
                        None => {}
                    }
                }
                Stmt::Redirect { ifindex, .. } => collect_expr(ifindex, ids),
                Stmt::Call { args, .. } => args.iter().for_each(|a| collect_expr(a, ids)),
                Stmt::Expr { expr, .. } => collect_expr(expr, ids),
                Stmt::For { start, end, body, .. } => {
                    collect_expr(start, ids);
                    collect_expr(end, ids);
                    collect_block(body, ids);
                }
                Stmt::Stage { body, .. } => collect_block(body, ids),
                Stmt::Verdict { .. } => {}
            }
        }
    }
    for item in &module.items {
        match item {
            Item::Const(c) => collect_expr(&c.value, &mut ids),
            Item::Parser(p) => {
                for s in &p.states {
                    for st in &s.body {
                        if let ParserStmt::Skip { amount, .. } = st {
                            collect_expr(amount, &mut ids);
                        }
                    }
                    if let Some(Transition::Select(sel)) = &s.transition {
                        sel.keys.iter().for_each(|k| collect_expr(k, &mut ids));
                        for c in &sel.cases {
                            c.alternatives.iter().flatten().for_each(|p| collect_pat(p, &mut ids));
                        }
                    }
                }
            }
            Item::Action(a) => collect_block(&a.body, &mut ids),
            Item::Control(c) => collect_block(&c.body, &mut ids),
            _ => {}
        }
    }
    assert!(module.n_exprs > 50);
    ids.sort_unstable();
    assert_eq!(ids, (0..module.n_exprs).collect::<Vec<_>>());
}

// ------------------------------------------------------------------ whole programs

/// The examples from docs/language.md.
const DOC_FILTER: &str = "import std.net

control filter(xdp) {
    if ipv4.valid && ipv4.src in 198.18.0.0/15 { drop }
    if udp.valid && udp.dst_port in 5000..=5100 { drop }
    pass
}
";

/// A realistic standard parser plus a control that uses most statements.
const DOC_PARSER: &str = r#"// Standard headers.
const ETH_P_IPV4: u16 = 0x0800
const ETH_P_IPV6: u16 = 0x86dd
header ethernet { dst: u48, src: u48, ethertype: u16 }
header vlan[2] { pcp: u3, dei: u1, vid: u12, ethertype: u16 }
header ipv4 {
    version: u4, ihl: u4, dscp: u6, ecn: u2, total_len: u16
    id: u16, flags: u3, frag_offset: u13
    ttl: u8, protocol: u8, checksum: u16, src: u32, dst: u32
}
header ipv6 {
    version: u4; traffic_class: u8; flow_label: u20
    payload_len: u16; next_header: u8; hop_limit: u8
    src_hi: u64; src_lo: u64; dst_hi: u64; dst_lo: u64
}
header tcp { src_port: u16, dst_port: u16, seq: u32, ack: u32, data_offset: u4, reserved: u4,
             flags: u8, window: u16, checksum: u16, urgent: u16 }
header udp { src_port: u16, dst_port: u16, len: u16, checksum: u16 }
meta { drops: u32, from_lan: bool }

parser std_parse {
    state start {
        extract ethernet
        select ethernet.ethertype {
            0x8100 | 0x88a8: parse_vlan
            ETH_P_IPV4: parse_ipv4
            ETH_P_IPV6: parse_ipv6
            _: accept
        }
    }
    state parse_vlan {
        extract vlan
        select vlan.last.ethertype {
            0x8100 | 0x88a8: parse_vlan
            0x0800: parse_ipv4
            0x86dd: parse_ipv6
            _: accept
        }
    }
    state parse_ipv4 {
        extract ipv4
        select (ipv4.version, ipv4.ihl) {
            (4, 5): parse_l4
            (4, 6..=15): parse_ipv4_options
            _: reject
        }
    }
    state parse_ipv4_options {
        skip ((ipv4.ihl as u16) - 5) * 4
        goto parse_l4
    }
    state parse_l4 {
        select (ipv4.frag_offset, ipv4.protocol) {
            (0, 6): parse_tcp
            (0, 17): parse_udp
            _: accept
        }
    }
    state parse_ipv6 {
        extract ipv6
        select ipv6.next_header { 6: parse_tcp, 17: parse_udp, _: accept }
    }
    state parse_tcp { extract tcp; accept }
    state parse_udp { extract udp; accept }
}

action count_drop(by: u32) {
    meta.drops += by
}

control firewall(xdp, std_parse) {
    if pkt.rejected { drop }
    if ethernet.src == 02:00:00:00:00:01 { pass }
    if vlan[0].valid && vlan[0].vid in {10, 20, 100..200} { meta.from_lan = true }
    if ipv4.valid {
        if ipv4.ttl <= 1 { count_drop(1); drop }
        ipv4.ttl -= 1
        if ipv4.src in 198.18.0.0/15 && !meta.from_lan {
            count_drop(2)
            drop
        } else if tcp.valid && tcp.dst_port in {22, 80, 443} {
            pass
        } else if udp.valid && (udp.dst_port & 0xff00) == 0x1200 {
            redirect(2)
        } else {
            let len: u32 = pkt.len - 14
            if len > 1500 { abort }
        }
    }
    tx
}
"#;

#[test]
fn doc_examples_parse() {
    let module = parse_ok(DOC_FILTER);
    assert_eq!(module.items.len(), 2);
    let module = parse_ok(DOC_PARSER);
    assert_eq!(module.items.len(), 12);
}

#[test]
fn snapshot_doc_filter_ast() {
    insta::assert_debug_snapshot!(parse_ok(DOC_FILTER));
}

#[test]
fn snapshot_parser_states_ast() {
    let text = "header vlan[2] { vid: u12, tpid: u16 }
parser p {
    state start {
        extract vlan
        skip (vlan.last.vid as u16) * 2
        select (vlan.last.tpid, vlan[0].vid) {
            (0x8100, 1..=4094) | (0x88a8, _): start
            (_, 0x0ff &&& 0xfff): accept
            _: reject
        }
    }
}
";
    insta::assert_debug_snapshot!(parse_ok(text));
}

// ------------------------------------------------------------------ recovery

#[test]
fn every_broken_item_is_reported_and_good_items_kept() {
    let text = "header ok1 { a: u8 }
header broken { a u8 }
const OK2 = 1
control c(xdp) {
    if x { drop
}
const OK3 = 2 +
action ok4() { pass }
";
    let (module, diags) = parse(FileId(0), text);
    let names: Vec<String> = module
        .items
        .iter()
        .map(|i| match i {
            Item::Header(h) => h.name.name.clone(),
            Item::Const(c) => c.name.name.clone(),
            Item::Action(a) => a.name.name.clone(),
            other => format!("{other:?}"),
        })
        .collect();
    // `broken` is kept without its broken field; the control with an
    // unclosed brace and the incomplete const are dropped.
    assert_eq!(names, ["ok1", "broken", "OK2", "ok4"]);
    let Some(Item::Header(broken)) = module.items.get(1) else { panic!("{:?}", module.items) };
    assert!(broken.fields.is_empty(), "{broken:?}");
    assert_eq!(diags.iter().map(|d| d.code).collect::<Vec<_>>(), ["nfl::E0101", "nfl::E0102", "nfl::E0101"]);
}

#[test]
fn unterminated_comment() {
    let (module, diags) = parse(FileId(0), "const A = 1\n/* never closed\nconst B = 2\n");
    assert_eq!(diags.iter().map(|d| d.code).collect::<Vec<_>>(), ["nfl::E0102"]);
    assert_eq!(module.items.len(), 1);
    // The comment may also start in the middle of an item.
    let (module, diags) = parse(FileId(0), "const A = 1\ncontrol c(xdp) { drop /* oops }\n");
    assert_eq!(diags.iter().map(|d| d.code).collect::<Vec<_>>(), ["nfl::E0102"]);
    assert_eq!(module.items.len(), 1);
}

#[test]
fn empty_and_trivia_only_files() {
    for text in ["", "\n\n", "// only a comment", "/* block */", ";;", "\u{feff}const A = 1"] {
        let (_, diags) = parse(FileId(0), text);
        assert!(diags.is_empty(), "{text:?}: {diags:?}");
    }
}

// ------------------------------------------------------------------ rendered diagnostics

#[test]
fn snapshot_diag_missing_colon_and_brace() {
    insta::assert_snapshot!(rendered(
        "header ipv4 {
    version u4
    ihl: u4
}
control c(xdp) {
    if ipv4.valid {
        drop
    pass
}
"
    ));
}

#[test]
fn snapshot_diag_bad_literals_and_types() {
    insta::assert_snapshot!(rendered(
        "const BIG = 99999999999999999999
const ADDR = 300.1.1.1
const MAC = 2:00:00:00:00:1
header h { a: int, b: u }
const F = 1.2.3
"
    ));
}

#[test]
fn snapshot_diag_keywords_and_chains() {
    insta::assert_snapshot!(rendered(
        "control c(xdp) {
    let pass = 1
    if a < b < c { drop }
}
"
    ));
}

#[test]
fn snapshot_diag_parser_errors() {
    insta::assert_snapshot!(rendered(
        "parser p {
    state start {
        extract ethernet
        accept
        extract ipv4
    }
    state other {
        select x { 0x0800 parse_ipv4 }
    }
}
const X = 5 6
/* unterminated
"
    ));
}

#[test]
fn snapshot_diag_statement_errors() {
    insta::assert_snapshot!(rendered(
        "control c(xdp) {
    x == 1
}
action a(n: u8) { ) }
control d(xdpp) { pass }
"
    ));
}

// ------------------------------------------------------------------ recovery inside items

fn the_control(module: &Module) -> &ControlDecl {
    module
        .items
        .iter()
        .find_map(|i| match i {
            Item::Control(c) => Some(c),
            _ => None,
        })
        .expect("the control is kept")
}

fn the_parser(module: &Module) -> &ParserDecl {
    module
        .items
        .iter()
        .find_map(|i| match i {
            Item::Parser(p) => Some(p),
            _ => None,
        })
        .expect("the parser is kept")
}

/// A one-line summary of a statement, for comparing blocks.
fn stmt_summary(text: &str, s: &Stmt) -> String {
    match s {
        Stmt::If { cond, then_block, else_block, .. } => {
            let then: Vec<String> = then_block.stmts.iter().map(|s| stmt_summary(text, s)).collect();
            let els = match else_block {
                None => String::new(),
                Some(ElseBranch::Block(b)) => {
                    let b: Vec<String> = b.stmts.iter().map(|s| stmt_summary(text, s)).collect();
                    format!(" else {{ {} }}", b.join("; "))
                }
                Some(ElseBranch::If(s)) => format!(" else {}", stmt_summary(text, s)),
            };
            format!("if {} {{ {} }}{els}", &text[cond.span.range()], then.join("; "))
        }
        other => text[other.span().range()].to_string(),
    }
}

fn control_summary(text: &str, module: &Module) -> Vec<String> {
    the_control(module).body.stmts.iter().map(|s| stmt_summary(text, s)).collect()
}

const THREE_STATEMENT_ERRORS: &str = "control c(xdp) {
    let a = 1
    x == 1
    meta.y = 2
    let = 3
    if ipv4.valid { drop }
    redirect(1 2)
    pass
}
";

#[test]
fn every_statement_error_in_a_control_is_reported() {
    let text = THREE_STATEMENT_ERRORS;
    let (module, diags) = parse(FileId(0), text);
    assert_eq!(
        spans_of(text, &diags),
        [("nfl::E0101", "==".to_string()), ("nfl::E0101", "=".to_string()), ("nfl::E0101", "2".to_string())]
    );
    let lines: Vec<usize> = diags
        .iter()
        .map(|d| text[..d.primary_span().expect("span").start as usize].lines().count())
        .collect();
    assert_eq!(lines, [3, 5, 7]);
    // The good statements are kept, with exact spans; the broken ones are gone.
    assert_eq!(control_summary(text, &module), ["let a = 1", "meta.y = 2", "if ipv4.valid { drop }", "pass"]);
    let control = the_control(&module);
    assert_eq!(&text[control.span.range()], text.trim_end());
    assert_eq!(&text[control.body.span.range()], &text[text.find('{').expect("{")..text.trim_end().len()]);
    assert_dense_ids(&module);
}

#[test]
fn broken_states_in_a_parser_are_all_reported() {
    let text = "parser p {
    state start {
        extract eth
        select eth.kind { 0x0800: ip, _: accept }
    }
    state ip {
        skip 4 4
        accept
    }
    state tcp {
        extract tcp
        goto 5
    }
    state udp { extract udp; accept }
}
";
    let (module, diags) = parse(FileId(0), text);
    assert_eq!(spans_of(text, &diags), [("nfl::E0101", "4".to_string()), ("nfl::E0101", "5".to_string())]);
    assert_eq!(diags[0].primary_span().map(|s| s.start as usize), text.find("4 4").map(|p| p + 2));
    let states = &the_parser(&module).states;
    let names: Vec<&str> = states.iter().map(|s| s.name.name.as_str()).collect();
    assert_eq!(names, ["start", "ip", "tcp", "udp"]);
    assert!(matches!(states[0].transition, Some(Transition::Select(_))));
    // `ip` lost its broken `skip` but kept its transition.
    assert!(states[1].body.is_empty());
    assert!(matches!(states[1].transition, Some(Transition::Accept(_))));
    // `tcp` kept its `extract` but lost the broken `goto`.
    assert!(matches!(&states[2].body[..], [ParserStmt::Extract { header, .. }] if header.name == "tcp"));
    assert_eq!(states[2].transition, None);
    assert_eq!(&text[states[2].span.range()], "state tcp {\n        extract tcp\n        goto 5\n    }");
    assert_eq!(states[3].body.len(), 1);
    assert_dense_ids(&module);
}

#[test]
fn broken_fields_in_a_header_are_all_reported() {
    let text = "header ipv4 {
    version: u4, ihl u4
    tos: u8
    len: 16
    ttl: u8
}
";
    let (module, diags) = parse(FileId(0), text);
    assert_eq!(spans_of(text, &diags), [("nfl::E0101", "u4".to_string()), ("nfl::E0105", "16".to_string())]);
    assert_eq!(diags[0].primary_span().map(|s| s.start as usize), text.find("ihl u4").map(|p| p + 4));
    let Some(Item::Header(h)) = module.items.first() else { panic!("{:?}", module.items) };
    let fields: Vec<&str> = h.fields.iter().map(|f| &text[f.span.range()]).collect();
    assert_eq!(fields, ["version: u4", "tos: u8", "ttl: u8"]);
    assert_eq!(&text[h.span.range()], text.trim_end());
}

#[test]
fn a_broken_select_case_keeps_the_others() {
    let text = "parser p {
    state start {
        select x {
            1: a
            2 b
            3 | 4: c
            _: accept
        }
    }
}
";
    let (module, diags) = parse(FileId(0), text);
    assert_eq!(spans_of(text, &diags), [("nfl::E0101", "b".to_string())]);
    let states = &the_parser(&module).states;
    let sel = select_of(&states[0]);
    assert_eq!(case_strings(sel), ["1 -> a", "3 | 4 -> c", "_ -> accept"]);
    assert_dense_ids(&module);
}

#[test]
fn an_error_inside_a_nested_block_keeps_the_rest() {
    let text = "control c(xdp) {
    if a {
        if b {
            x = = 1
            drop
        } else {
            y = 2
        }
        pass
    }
    tx
}
";
    let (module, diags) = parse(FileId(0), text);
    assert_eq!(spans_of(text, &diags), [("nfl::E0101", "=".to_string())]);
    assert_eq!(diags[0].primary_span().map(|s| s.start as usize), text.find("= = 1").map(|p| p + 2));
    assert_eq!(control_summary(text, &module), ["if a { if b { drop } else { y = 2 }; pass }", "tx"]);
    assert_dense_ids(&module);
}

#[test]
fn one_error_gives_one_diagnostic() {
    // Each body has one mistake; what follows it must not be reported too.
    let cases = [
        // An expression that goes on over lines.
        ("let x = a +\n        * b", "*"),
        // A broken `if` whose `else` is on the next line.
        ("if y z {\n        drop\n    }\n    else { pass }", "z"),
        // A call whose arguments go on over lines.
        ("foo(1,\n        2 +)", ")"),
        // An incomplete statement: the error shows at the next line.
        ("meta.x\n    meta.y = 1", "meta"),
        ("ipv4.ttl = (1 +)", ")"),
        ("if x in {1, 2 +} { drop }", "}"),
        ("let = 4; let b = 5", "="),
        // Without its `in`, the set is read as a block of broken statements
        // followed by a stray block: errors on one line are reported once.
        ("if tcp.dst_port {22, 80, 443} { pass }", ","),
    ];
    for (body, at) in cases {
        let text = format!("control c(xdp) {{\n    {body}\n    tx\n}}\n");
        let (module, diags) = parse(FileId(0), &text);
        assert_eq!(diags.len(), 1, "{body:?}:\n{}", render(&text, &diags));
        let span = diags[0].primary_span().expect("span");
        assert_eq!(&text[span.range()], at, "{body:?}");
        let kept = control_summary(&text, &module);
        assert_eq!(kept.last().map(String::as_str), Some("tx"), "{body:?}: {kept:?}");
    }
    // A stray separator inside a field does not split it in two.
    let text = "header h {\n    a: , u32\n    b: u8\n}\n";
    let (module, diags) = parse(FileId(0), text);
    assert_eq!(spans_of(text, &diags), [("nfl::E0105", ",".to_string())]);
    let Some(Item::Header(h)) = module.items.first() else { panic!("{:?}", module.items) };
    assert_eq!(h.fields.iter().map(|f| f.name.name.as_str()).collect::<Vec<_>>(), ["b"]);
    // A transition that is not last in its state.
    let text = "parser p {\n    state s {\n        accept\n        extract h\n    }\n    state t { accept }\n}\n";
    let (module, diags) = parse(FileId(0), text);
    assert_eq!(spans_of(text, &diags), [("nfl::E0101", "extract".to_string())]);
    assert_eq!(the_parser(&module).states.len(), 2);
}

#[test]
fn an_unclosed_brace_is_still_one_error() {
    // With unbalanced brackets the lists cannot be told apart: one error.
    let text = "control c(xdp) {\n    if a {\n        drop\n    x == 1\n    y == 2\n}\n";
    assert_eq!(codes(text), ["nfl::E0101"]);
    let text = "control c(xdp) {\n    x == 1\n    if a {\n        drop\n}\n";
    assert_eq!(codes(text), ["nfl::E0101"]);
    let text = "control c(xdp) {\n    if a {\n        drop\n    pass\n}\n";
    assert_eq!(codes(text), ["nfl::E0102"]);
}

#[test]
fn a_stray_closing_brace_gives_one_error() {
    // `}` closes the control early and `{` is then outside every item; only
    // the first error is about something the user wrote wrong.
    let text = "control c(xdp) {\n    if a { pass } else }{\n    drop\n}\n";
    let (module, diags) = parse(FileId(0), text);
    assert_eq!(spans_of(text, &diags), [("nfl::E0101", "}".to_string())]);
    assert!(module.items.is_empty());
}

#[test]
fn errors_in_the_head_of_an_item_drop_it() {
    let text = "action a(n u8) { x == 1 }\ncontrol c(xdp) { pass }\n";
    let (module, diags) = parse(FileId(0), text);
    assert_eq!(spans_of(text, &diags), [("nfl::E0101", "u8".to_string())]);
    assert_eq!(module.items.len(), 1);
}

#[test]
fn recovery_stops_after_fifty_errors_with_a_note() {
    let mut text = String::from("control c(xdp) {\n");
    for i in 0..80 {
        text.push_str(&format!("    x == {i}\n    pass\n"));
    }
    text.push_str("}\n");
    let (module, diags) = parse(FileId(0), &text);
    let (errors, notes): (Vec<&Diagnostic>, Vec<&Diagnostic>) = diags.iter().partition(|d| d.is_error());
    assert_eq!(errors.len(), 50);
    assert!(errors.iter().all(|d| d.code == "nfl::E0101"));
    let [note] = notes.as_slice() else { panic!("{notes:#?}") };
    assert!(std::ptr::eq(*note, diags.last().expect("diags")), "the note comes last");
    assert!(note.message.contains("too many syntax errors"), "{}", note.message);
    assert_eq!(note.primary_span(), errors.last().and_then(|d| d.primary_span()));
    // The control could not be finished, so it is dropped.
    assert!(module.items.is_empty());
}

#[test]
fn snapshot_diag_recovery_in_a_control() {
    insta::assert_snapshot!(rendered(THREE_STATEMENT_ERRORS));
}

#[test]
fn snapshot_diag_recovery_in_headers_and_parsers() {
    insta::assert_snapshot!(rendered(
        "header ipv4 {
    version: u4, ihl u4
    tos: u8
    len: 16
}
parser p {
    state start {
        extract ipv4
        select ipv4.proto {
            6: tcp
            17 udp
            _: accept
        }
    }
    state tcp {
        skip 4 4
        accept
    }
    state udp {
        extract udp
        goto 5
    }
}
"
    ));
}

#[test]
fn snapshot_diag_recovery_in_nested_blocks() {
    insta::assert_snapshot!(rendered(
        "control c(xdp) {
    if ipv4.valid {
        if ipv4.ttl < 2 {
            ipv4.ttl = = 1
            drop
        } else {
            meta.x
            ipv4.ttl -= 1
        }
    }
    tx
}
"
    ));
}
