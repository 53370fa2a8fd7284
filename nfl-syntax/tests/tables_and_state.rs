//! Parser tests for config blocks, tables, counters, maps and objects
//! (meters, pools), method calls, multi-value indexes, durations,
//! expression statements and `let ... else`: AST shapes, spans, the new
//! diagnostics (E0109-E0111) and recovery inside the new items.

mod common;

use common::*;
use nfl_syntax::ast::*;
use nfl_syntax::parse;

/// The one item of `text`.
fn only_item(text: &str) -> Item {
    let module = parse_ok(text);
    let mut items = module.items.into_iter();
    let (Some(item), None) = (items.next(), items.next()) else { panic!("expected one item in {text:?}") };
    item
}

fn table_of(text: &str) -> TableDecl {
    match only_item(text) {
        Item::Table(t) => t,
        other => panic!("expected a table, got {other:?}"),
    }
}

fn action_str(a: &ActionRef) -> String {
    if a.args.is_empty() {
        a.name.name.clone()
    } else {
        format!("{}({})", a.name.name, a.args.iter().map(sexp).collect::<Vec<_>>().join(", "))
    }
}

fn keys_of(t: &TableDecl) -> Vec<String> {
    t.keys
        .iter()
        .map(|k| format!("{}: {}", k.exprs.iter().map(sexp).collect::<Vec<_>>().join(", "), k.kind.name()))
        .collect()
}

fn entries_of(t: &TableDecl) -> Vec<String> {
    t.entries
        .iter()
        .flatten()
        .map(|e| format!("{} -> {}", e.patterns.iter().map(pat).collect::<Vec<_>>().join(", "), action_str(&e.action)))
        .collect()
}

/// A summary of a statement: its kind and expressions.
fn stmt_str(s: &Stmt) -> String {
    match s {
        Stmt::Expr { expr, .. } => format!("expr {}", sexp(expr)),
        Stmt::Let { name, value, else_block, .. } => {
            let els = match else_block {
                Some(b) => format!(" else {{{} stmts}}", b.stmts.len()),
                None => String::new(),
            };
            format!("let {} = {}{els}", name.name, sexp(value))
        }
        Stmt::Assign { target, op, value, .. } => {
            format!("{} {}= {}", sexp(target), op.map(|o| o.symbol()).unwrap_or(""), sexp(value))
        }
        Stmt::Call { callee, args, .. } => {
            format!("call {}({})", callee.name, args.iter().map(sexp).collect::<Vec<_>>().join(", "))
        }
        other => format!("{other:?}"),
    }
}

fn control_body_of(module: &Module) -> &[Stmt] {
    module
        .items
        .iter()
        .find_map(|i| match i {
            Item::Control(c) => Some(c.body.stmts.as_slice()),
            _ => None,
        })
        .expect("a control")
}

fn control_stmts(body: &str) -> Vec<String> {
    control_body(&format!("control c(xdp) {{\n{body}\n}}")).iter().map(stmt_str).collect()
}

// ------------------------------------------------------------------ config

const CONFIG: &str = "config {
    rate_pps: u32 = 10000
    syn_guard: bool = true
    trusted: set<u32> = {198.18.0.0/15, 198.19.0.1}
    uplink: u32            // no default: the YAML must give it
    ports: set<u16>, window: u64 = 2 * 1000; grace: u64 = 30s
}";

#[test]
fn config_parameters_types_and_defaults() {
    let Item::Config(c) = only_item(CONFIG) else { panic!() };
    let shapes: Vec<String> = c
        .params
        .iter()
        .map(|p| {
            let ty = match &p.ty {
                ConfigType::Scalar(t) => format!("{:?}", t.ty),
                ConfigType::Set(t, span) => format!("set<{:?}>@{}", t.ty, &CONFIG[span.range()]),
            };
            let default = match &p.default {
                None => String::new(),
                Some(ConfigDefault::Expr(e)) => format!(" = {}", sexp(e)),
                Some(ConfigDefault::Set(p)) => format!(" = {}", pat(p)),
            };
            format!("{}: {ty}{default}", p.name.name)
        })
        .collect();
    assert_eq!(
        shapes,
        [
            "rate_pps: u32 = 10000",
            "syn_guard: bool = true",
            "trusted: set<u32>@set<u32> = {(prefix ip:0xc6120000 15), ip:0xc6130001}",
            "uplink: u32",
            "ports: set<u16>@set<u16>",
            "window: u64 = (* 2 1000)",
            "grace: u64 = 30000000000ns",
        ]
    );
    assert_eq!(&CONFIG[c.params[3].span.range()], "uplink: u32");
    assert_eq!(&CONFIG[c.span.range()], CONFIG);
    // An empty config block is fine (the checker decides if it is useful).
    assert!(matches!(only_item("config { }"), Item::Config(ConfigDecl { params, .. }) if params.is_empty()));
}

#[test]
fn config_values_are_read_like_meta() {
    assert_eq!(e("config.rate_pps * 2"), "(* config.rate_pps 2)");
    assert_eq!(e("ipv4.src in config.trusted"), "(in ipv4.src config.trusted)");
}

#[test]
fn config_type_errors() {
    assert_eq!(codes("config { a: int }"), ["nfl::E0105"]);
    assert_eq!(codes("config { a: set<int> }"), ["nfl::E0105"]);
    assert_eq!(codes("config { a: 5 }"), ["nfl::E0105"]);
    assert_eq!(codes("config { a: set u32 }"), ["nfl::E0101"]);
    assert_eq!(codes("config { a: set<u32 = {1} }"), ["nfl::E0101"]);
    assert_eq!(codes("config { let: u8 }"), ["nfl::E0104"]);
    // `set` alone is read as a (bad) scalar type name.
    assert_eq!(codes("config { a: set }"), ["nfl::E0105"]);
}

// ------------------------------------------------------------------ tables

const ACL: &str = "table acl {
    key {
        ipv4.src: ternary
        (ipv6.dst_hi, ipv6.dst_lo): lpm
        meta.dport: range
        ipv4.protocol: exact
    }
    actions { allow, deny, set_mark }
    default deny              // or: default set_mark(7)
    size 1024                 // optional; presence = run-time writable
    masks 64                  // optional
    entries {                 // optional, constant entries
        (198.18.0.0/15, _, 80..=90, 6): allow
        (_, _, 0..1024, _): set_mark(3)
        (0x0a000000 &&& 0xff000000, (1 + 1), _, 17): set_mark (1, 2)
        (1, 2, 3, 4): deny
    }
}";

#[test]
fn a_table_with_every_section() {
    let t = table_of(ACL);
    assert_eq!(t.name.name, "acl");
    assert_eq!(
        keys_of(&t),
        ["ipv4.src: ternary", "ipv6.dst_hi, ipv6.dst_lo: lpm", "meta.dport: range", "ipv4.protocol: exact"]
    );
    assert_eq!(&ACL[t.keys[1].span.range()], "(ipv6.dst_hi, ipv6.dst_lo): lpm");
    assert_eq!(&ACL[t.keys[1].kind_span.range()], "lpm");
    assert_eq!(t.actions.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["allow", "deny", "set_mark"]);
    assert_eq!(t.default.as_ref().map(action_str).as_deref(), Some("deny"));
    assert_eq!(t.size.as_ref().map(sexp).as_deref(), Some("1024"));
    assert_eq!(t.masks.as_ref().map(sexp).as_deref(), Some("64"));
    // Entries keep their order (first = highest priority). An entry line
    // that starts with `(` is not read as arguments of the action before.
    assert_eq!(
        entries_of(&t),
        [
            "(prefix ip:0xc6120000 15), _, (..= 80 90), 6 -> allow",
            "_, _, (.. 0 1024), _ -> set_mark(3)",
            "(mask 167772160 4278190080), (+ 1 1), _, 17 -> set_mark(1, 2)",
            "1, 2, 3, 4 -> deny",
        ]
    );
    let entries = t.entries.as_ref().expect("entries");
    assert_eq!(&ACL[entries[1].span.range()], "(_, _, 0..1024, _): set_mark(3)");
    assert_eq!(&ACL[entries[1].action.span.range()], "set_mark(3)");
    assert_eq!(&ACL[t.span.range()], ACL);
}

#[test]
fn table_sections_in_any_order_and_optional() {
    let t = table_of("table t { entries { 1: a; _: b } default b(1, x + 1) actions { a b } key { k: exact } }");
    assert_eq!(keys_of(&t), ["k: exact"]);
    assert_eq!(entries_of(&t), ["1 -> a", "_ -> b"]);
    assert_eq!(t.default.as_ref().map(action_str).as_deref(), Some("b(1, (+ x 1))"));
    assert_eq!(t.actions.len(), 2);
    assert!(t.size.is_none() && t.masks.is_none());
    // Every section may be left out; the checker says which are required.
    let t = table_of("table t { }");
    assert!(t.keys.is_empty() && t.actions.is_empty() && t.default.is_none() && t.entries.is_none());
    // An empty `entries` section is not the same as none.
    assert_eq!(table_of("table t { entries { } }").entries, Some(vec![]));
    // Separators are optional, as everywhere.
    let t = table_of("table t {\n key { a.b: lpm, c: range; d: exact }\n actions {\n x\n y\n }\n size 8; masks 2 }");
    assert_eq!(keys_of(&t), ["a.b: lpm", "c: range", "d: exact"]);
    assert_eq!(t.actions.len(), 2);
}

#[test]
fn table_entries_use_every_pattern_form() {
    let t = table_of(
        "table t { entries {
            10.0.0.0/8: a
            0x0800 &&& 0xff00: b
            1024..=65535: c
            (N + 1, 0..1024): d
            _: e
        } }",
    );
    assert_eq!(
        entries_of(&t),
        [
            "(prefix ip:0xa000000 8) -> a",
            "(mask 2048 65280) -> b",
            "(..= 1024 65535) -> c",
            "(+ N 1), (.. 0 1024) -> d",
            "_ -> e",
        ]
    );
}

#[test]
fn contextual_words_stay_names() {
    // Section and item words can name fields, locals, actions and headers.
    parse_ok(
        "header h { size: u8, key: u16, map: u8, default: u8, entries: u8, table: u8, keyed: u8, idle: u8, set: u8 }
meta { counter: u32, pool: u8, meter: u8, config_x: u8 }
action size(masks: u8) { meta.counter += 1 }
control c(xdp) {
    let table = h.key + h.map
    let map = table
    size(1)
    meta.pool = h.entries
    counter.x = 1
    map.y = 2
}",
    );
    // A table may be named like a section.
    assert_eq!(table_of("table key { key { size: exact } }").name.name, "key");
}

#[test]
fn unknown_match_kind_is_e0110() {
    let text = "table t { key { a: exact, b: prefix, c: ternary } }";
    let (module, diags) = parse(FileId(0), text);
    assert_eq!(spans_of(text, &diags), [("nfl::E0110", "prefix".to_string())]);
    assert!(diags[0].help.as_deref().is_some_and(|h| h.contains("`exact`, `lpm`, `ternary` or `range`")));
    assert!(diags[0].help.as_deref().is_some_and(|h| h.contains("longest-prefix")));
    // The key is kept, with a placeholder kind.
    let Some(Item::Table(t)) = module.items.first() else { panic!("{module:?}") };
    assert_eq!(keys_of(t), ["a: exact", "b: exact", "c: ternary"]);
}

#[test]
fn duplicate_sections_are_e0109() {
    let text = "table t {\n    size 10\n    key { a: exact }\n    size 20\n    key { b: exact }\n}";
    let (module, diags) = parse(FileId(0), text);
    assert_eq!(spans_of(text, &diags), [("nfl::E0109", "size".to_string()), ("nfl::E0109", "key".to_string())]);
    // The second label points at the first section.
    let first_size = text.find("size").expect("size");
    assert_eq!(diags[0].labels[1].span.start as usize, first_size);
    assert_eq!(diags[0].primary_span().map(|s| s.start as usize), text.rfind("size"));
    assert!(diags[0].message.contains("table `t`"), "{}", diags[0].message);
    // The first one wins.
    let Some(Item::Table(t)) = module.items.first() else { panic!("{module:?}") };
    assert_eq!(t.size.as_ref().map(sexp).as_deref(), Some("10"));
    assert_eq!(keys_of(t), ["a: exact"]);
    assert_dense_ids(&module);
    for section in ["actions { a }", "default a", "masks 2", "entries { _: a }"] {
        let text = format!("table t {{ {section} {section} }}");
        assert_eq!(codes(&text), ["nfl::E0109"], "{text}");
    }
    assert_eq!(codes("map m: u8 -> u8 idle 1s size 2 idle 2s"), ["nfl::E0109"]);
}

// ------------------------------------------------------------------ counters, maps, objects

#[test]
fn counters() {
    let module = parse_ok("counter hits\ncounter per_port[64]\ncounter sized[N * 2]");
    let shapes: Vec<String> = module
        .items
        .iter()
        .map(|i| match i {
            Item::Counter(c) => format!("{}[{}]", c.name.name, c.size.as_ref().map(sexp).unwrap_or_default()),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(shapes, ["hits[]", "per_port[64]", "sized[(* N 2)]"]);
    assert_eq!(codes("counter hits[]"), ["nfl::E0101"]);
}

#[test]
fn maps() {
    let text = "map flows: (u32, u16, u8) -> u64 size 65536 idle 30s
map macs: u48 -> u32 idle 300s size 4096
map seen: u32 -> u8 size 1024
map bare: u8 -> bool";
    let module = parse_ok(text);
    let shapes: Vec<String> = module
        .items
        .iter()
        .map(|i| match i {
            Item::Map(m) => format!(
                "{}: {:?} -> {:?} size {} idle {}",
                m.name.name,
                m.key.iter().map(|k| k.ty).collect::<Vec<_>>(),
                m.value.ty,
                m.size.as_ref().map(sexp).unwrap_or_default(),
                m.idle.as_ref().map(sexp).unwrap_or_default()
            ),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        shapes,
        [
            "flows: [u32, u16, u8] -> u64 size 65536 idle 30000000000ns",
            "macs: [u48] -> u32 size 4096 idle 300000000000ns",
            "seen: [u32] -> u8 size 1024 idle ",
            "bare: [u8] -> bool size  idle ",
        ]
    );
    let Some(Item::Map(flows)) = module.items.first() else { panic!() };
    assert_eq!(&text[flows.span.range()], "map flows: (u32, u16, u8) -> u64 size 65536 idle 30s");
    assert_eq!(codes("map m: (u32) -> u8"), ["nfl::E0101"]);
    assert_eq!(codes("map m: u32 => u8"), ["nfl::E0101"]);
    assert_eq!(codes("map m: (u32, int) -> u8"), ["nfl::E0105"]);
    assert_eq!(codes("map m: u32 -> u8 size"), ["nfl::E0101"]);
}

#[test]
fn meters_and_pools() {
    let text = "meter per_src: token_bucket(rate = config.rate_pps, burst = 2 * config.rate_pps, size = 65536) keyed ipv4.src
pool nat_ports: ports(first = 20000, last = 29999)
meter pair: token_bucket(rate = 1; burst = 2) keyed (ipv4.src, ipv4.dst)
pool empty: ports()";
    let module = parse_ok(text);
    let shapes: Vec<String> = module
        .items
        .iter()
        .map(|i| match i {
            Item::Object(o) => {
                let args: Vec<String> = o.args.iter().map(|a| format!("{}={}", a.name.name, sexp(&a.value))).collect();
                let keyed = match &o.keyed {
                    Some(k) => format!(" keyed {}", k.iter().map(sexp).collect::<Vec<_>>().join(", ")),
                    None => String::new(),
                };
                format!("{} {}: {}({}){keyed}", o.kind.keyword(), o.name.name, o.ctor.name, args.join(" "))
            }
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        shapes,
        [
            "meter per_src: token_bucket(rate=config.rate_pps burst=(* 2 config.rate_pps) size=65536) keyed ipv4.src",
            "pool nat_ports: ports(first=20000 last=29999)",
            "meter pair: token_bucket(rate=1 burst=2) keyed ipv4.src, ipv4.dst",
            "pool empty: ports()",
        ]
    );
    let Some(Item::Object(o)) = module.items.first() else { panic!() };
    assert_eq!(&text[o.args[1].span.range()], "burst = 2 * config.rate_pps");
    assert_eq!(codes("meter m: token_bucket(1, 2)"), ["nfl::E0101"]);
    assert_eq!(codes("pool p: ports(first 1)"), ["nfl::E0101"]);
    assert_eq!(codes("meter m token_bucket()"), ["nfl::E0101"]);
}

// ------------------------------------------------------------------ expressions

#[test]
fn method_calls_compose_with_fields_and_indexes() {
    assert_eq!(e("acl.apply()"), "acl.apply()");
    assert_eq!(e("per_src.take(1)"), "per_src.take(1)");
    assert_eq!(e("hits[3].count()"), "hits[3].count()");
    assert_eq!(e("flows.get(a, b,)"), "flows.get(a, b)");
    assert_eq!(e("a.b(1).c[2].d().e"), "a.b(1).c[2].d().e");
    assert_eq!(e("m.f(x.g(y.h()))"), "m.f(x.g(y.h()))");
    // Postfix binds tighter than unary operators and casts.
    assert_eq!(e("!flows.contains(a, b) && x"), "(&& (! flows.contains(a, b)) x)");
    assert_eq!(e("-m.take() as u16"), "(- (as m.take() u16))");
    assert_eq!(e("m.get(k) + 1 in {1, 2}"), "(in (+ m.get(k) 1) {1, 2})");
    let expr = expr_of("nat_ports.take()");
    let ExprKind::MethodCall { receiver, method, args } = &expr.kind else { panic!("{expr:?}") };
    assert!(matches!(&receiver.kind, ExprKind::Name(n) if n.name == "nat_ports"));
    assert_eq!(method.name, "take");
    assert!(args.is_empty());
    let text = "const X = hits[3].count(a + 1)";
    let (module, _) = parse(FileId(0), text);
    let Some(Item::Const(c)) = module.items.first() else { panic!() };
    assert_eq!(&text[c.value.span.range()], "hits[3].count(a + 1)");
    // A method name cannot be a keyword.
    assert_eq!(codes("const X = a.if()"), ["nfl::E0104"]);
}

#[test]
fn several_indexes_make_a_tuple() {
    assert_eq!(e("flows[a, b]"), "flows[(tuple a b)]");
    assert_eq!(e("flows[a, b + 1, c,]"), "flows[(tuple a (+ b 1) c)]");
    assert_eq!(e("vlan[0].vid"), "vlan[0].vid");
    assert_eq!(e("m[a,]"), "m[a]");
    let text = "const X = flows[ a , b ].c";
    let (module, _) = parse(FileId(0), text);
    let Some(Item::Const(c)) = module.items.first() else { panic!() };
    let ExprKind::Field { base, .. } = &c.value.kind else { panic!() };
    let ExprKind::Index { index, .. } = &base.kind else { panic!() };
    assert!(matches!(index.kind, ExprKind::Tuple(ref items) if items.len() == 2));
    assert_eq!(&text[index.span.range()], "a , b");
    assert_eq!(&text[base.span.range()], "flows[ a , b ]");
    assert_eq!(codes("const X = m[]"), ["nfl::E0101"]);
    assert_eq!(codes("const X = m[, a]"), ["nfl::E0101"]);
}

#[test]
fn durations() {
    assert_eq!(e("30s"), "30000000000ns");
    assert_eq!(e("250ms"), "250000000ns");
    assert_eq!(e("5m"), "300000000000ns");
    assert_eq!(e("2h"), "7200000000000ns");
    assert_eq!(e("10us"), "10000ns");
    assert_eq!(e("7ns"), "7ns");
    assert_eq!(e("1_000ms"), "1000000000ns");
    assert_eq!(e("0s"), "0ns");
    assert_eq!(e("x in 1s..=2s"), "(in x (..= 1000000000ns 2000000000ns))");
    // The largest: u64::MAX nanoseconds.
    assert_eq!(e("18446744073709551615ns"), "18446744073709551615ns");
    // Not durations: other suffixes stay bad integer literals.
    assert_eq!(codes("const X = 5sec"), ["nfl::E0103"]);
    assert_eq!(codes("const X = 5ks"), ["nfl::E0103"]);
    assert_eq!(codes("const X = 0xs"), ["nfl::E0103"]);
}

#[test]
fn bad_durations_are_e0111() {
    let text = "const A = 0x10s\nconst B = 18446744074s\nconst C = 99999999999999999999ns\nconst D = 0b11ms\n";
    let (module, diags) = parse(FileId(0), text);
    assert_eq!(
        spans_of(text, &diags),
        [
            ("nfl::E0111", "0x10s".to_string()),
            ("nfl::E0111", "18446744074s".to_string()),
            ("nfl::E0111", "99999999999999999999ns".to_string()),
            ("nfl::E0111", "0b11ms".to_string()),
        ]
    );
    assert_eq!(diags[0].help.as_deref(), Some("write the number in decimal: `16s`"));
    assert_eq!(diags[3].help.as_deref(), Some("write the number in decimal: `3ms`"));
    assert!(diags[1].message.contains("too long"), "{}", diags[1].message);
    // Every item is kept, with a zero placeholder.
    assert_eq!(module.items.len(), 4);
}

// ------------------------------------------------------------------ statements

#[test]
fn method_calls_as_statements() {
    assert_eq!(
        control_stmts(
            "    acl.apply()
    hits.count(); hits[i].count()
    flows.remove(k)
    a.b[1].c(2).d()
    bump(1)
    flows[a, b] += 1
    flows[k] = 0"
        ),
        [
            "expr acl.apply()",
            "expr hits.count()",
            "expr hits[i].count()",
            "expr flows.remove(k)",
            "expr a.b[1].c(2).d()",
            "call bump(1)",
            "flows[(tuple a b)] += 1",
            "flows[k] = 0",
        ]
    );
    let text = "control c(xdp) { hits[i].count() }";
    let body = control_body(text);
    assert_eq!(&text[body[0].span().range()], "hits[i].count()");
}

#[test]
fn other_bare_expressions_are_still_errors() {
    for (stmt, at) in [
        ("meta.hits", "}"),
        ("acl.apply", "}"),
        ("hits[1]", "}"),
        ("acl.apply().x", "}"),
        ("acl.apply() + 1", "+"),
        // Any operand is read as the start of an assignment.
        ("1 + 2", "+"),
        ("(a.b())", "}"),
        ("x == 1", "=="),
    ] {
        let text = format!("control c(xdp) {{\n    {stmt}\n}}");
        let (_, diags) = parse(FileId(0), &text);
        assert_eq!(spans_of(&text, &diags), [("nfl::E0101", at.to_string())], "{stmt}");
    }
}

#[test]
fn let_else() {
    assert_eq!(
        control_stmts(
            "    let p = nat_ports.take() else { drop }
    let q: u16 = flows.get(a, b) else {
        hits.count()
        pass
    }
    let r = 1"
        ),
        ["let p = nat_ports.take() else {1 stmts}", "let q = flows.get(a, b) else {2 stmts}", "let r = 1"]
    );
    let text = "control c(xdp) {\n    let p = m.take()\n    else { drop }\n}";
    let body = control_body(text);
    assert_eq!(&text[body[0].span().range()], "let p = m.take()\n    else { drop }");
    let (module, _) = parse(FileId(0), text);
    assert_dense_ids(&module);
    assert_eq!(codes("control c(xdp) { let p = 1 else drop }"), ["nfl::E0101"]);
}

// ------------------------------------------------------------------ ids, recovery

const EVERYTHING: &str = "config {
    rate: u32 = 100
    nets: set<u32> = {10.0.0.0/8, 1..=2 | 3}
}
table acl {
    key { ipv4.src: lpm, (a, b): exact }
    actions { allow, mark }
    default mark(1 + 2)
    size N * 2
    masks 4
    entries { (1, 2): mark(3), _: allow }
}
counter hits[8]
map flows: (u32, u16) -> u64 size 10 idle 5s
meter m: token_bucket(rate = config.rate) keyed (x, y)
control c(xdp) {
    let v = flows.get(a, b) else { hits[1].count() }
    flows[a, b] += v
    acl.apply()
}
";

#[test]
fn expression_ids_cover_the_new_items() {
    let module = parse_ok(EVERYTHING);
    assert_dense_ids(&module);
    assert!(module.n_exprs > 30, "{}", module.n_exprs);
}

#[test]
fn a_broken_key_or_entry_keeps_the_rest_of_the_table() {
    let text = "table acl {
    key {
        ipv4.src ternary
        ipv4.dst: lpm
        meta.x: (range)
        ipv4.proto: exact
    }
    actions { allow, deny }
    entries {
        (1, 2): allow
        (3 4): deny
        (5, 6) deny
        _: deny
    }
    size 10
}
";
    let (module, diags) = parse(FileId(0), text);
    assert_eq!(
        spans_of(text, &diags),
        [
            ("nfl::E0101", "ternary".to_string()),
            ("nfl::E0101", "(".to_string()),
            ("nfl::E0101", "4".to_string()),
            ("nfl::E0101", "deny".to_string()),
        ]
    );
    let Some(Item::Table(t)) = module.items.first() else { panic!("{:?}", module.items) };
    assert_eq!(keys_of(t), ["ipv4.dst: lpm", "ipv4.proto: exact"]);
    assert_eq!(entries_of(t), ["1, 2 -> allow", "_ -> deny"]);
    assert_eq!(t.actions.len(), 2);
    assert_eq!(t.size.as_ref().map(sexp).as_deref(), Some("10"));
    assert_dense_ids(&module);
}

#[test]
fn a_broken_section_keeps_the_others() {
    let text = "table t {
    key { a: exact }
    size 1 2
    defualt allow
    masks 4
    actions { allow }
}
";
    let (module, diags) = parse(FileId(0), text);
    assert_eq!(spans_of(text, &diags), [("nfl::E0101", "2".to_string()), ("nfl::E0101", "defualt".to_string())]);
    assert!(diags[1].message.contains("a table section"), "{}", diags[1].message);
    let Some(Item::Table(t)) = module.items.first() else { panic!("{:?}", module.items) };
    assert_eq!(keys_of(t), ["a: exact"]);
    assert!(t.size.is_none() && t.default.is_none());
    assert_eq!(t.masks.as_ref().map(sexp).as_deref(), Some("4"));
    assert_eq!(t.actions.len(), 1);
}

#[test]
fn a_broken_config_parameter_keeps_the_others() {
    let text = "config {
    a: u32 = 1 2
    b: set<u16>
    c: set<u32> = {1, 2 +}
    d: bool = true
}
";
    let (module, diags) = parse(FileId(0), text);
    assert_eq!(spans_of(text, &diags).len(), 2, "{}", render(text, &diags));
    let Some(Item::Config(c)) = module.items.first() else { panic!("{:?}", module.items) };
    assert_eq!(c.params.iter().map(|p| p.name.name.as_str()).collect::<Vec<_>>(), ["b", "d"]);
}

#[test]
fn broken_items_do_not_hide_each_other() {
    let text = "map flows: u32 -> size 10
counter hits[
const OK = 1
meter m: token_bucket(rate 1)
table {
    key { a: exact }
}
pool p: ports(first = 1) keyed
table good { key { x: exact } }
config { a: u8 = }
";
    let (module, diags) = parse(FileId(0), text);
    let lines: Vec<usize> = diags
        .iter()
        .map(|d| text[..d.primary_span().expect("span").start as usize].lines().count())
        .collect();
    assert_eq!(lines, [1, 2, 4, 5, 8, 10], "{}", render(text, &diags));
    let names: Vec<String> = module
        .items
        .iter()
        .map(|i| match i {
            Item::Const(c) => c.name.name.clone(),
            Item::Table(t) => t.name.name.clone(),
            Item::Config(c) => format!("config({})", c.params.len()),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["OK", "good", "config(0)"]);
}

#[test]
fn snapshot_diag_tables_and_state() {
    insta::assert_snapshot!(rendered(
        "table acl {
    key {
        ipv4.src: prefix
        ipv4.dst lpm
    }
    size 1024
    entries { _: allow }
    size 2048
}
map flows: (u32, u16) -> u64 idle 0x30s
control c(xdp) {
    acl.apply
    let t = 99999999999h
}
"
    ));
}

#[test]
fn broken_method_arguments_are_reported_inside() {
    let text = "const X = a.b (1 +)";
    let (_, diags) = parse(FileId(0), text);
    assert_eq!(spans_of(text, &diags), [("nfl::E0101", ")".to_string())]);
    let text = "control c(xdp) {\n    m.f(m.g(1 + ))\n    pass\n}";
    let (module, diags) = parse(FileId(0), text);
    assert_eq!(spans_of(text, &diags), [("nfl::E0101", ")".to_string())]);
    assert_eq!(control_body_of(&module).len(), 1);
}

/// The example of docs/language.md parses.
#[test]
fn language_doc_example_parses() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/language.md")).expect("docs");
    let section = doc.split("## Tables, state and config (syntax)").nth(1).expect("the section");
    let example = section.split("```").nth(1).expect("a code block");
    let module = parse_ok(example);
    // config, table, counter, map, meter, pool, sketch, queue
    assert_eq!(module.items.len(), 8);
}

/// A one-key entry may be parenthesised like a tuple entry, whatever its
/// pattern: a range, a mask or the wildcard.
#[test]
fn one_pattern_entries_in_parentheses() {
    let t = table_of("table t { key { a.b: range } actions { x } entries { (80..=90): x; (0x0800 &&& 0xff00): x; (_): x } }");
    let e = t.entries.expect("entries");
    assert_eq!(e.len(), 3);
    assert!(e.iter().all(|x| x.patterns.len() == 1));
    assert!(matches!(e[0].patterns[0], Pattern::Range { inclusive: true, .. }));
    assert!(matches!(e[1].patterns[0], Pattern::Mask { .. }));
    assert!(matches!(e[2].patterns[0], Pattern::Wildcard(_)));
}
