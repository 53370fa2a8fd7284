//! The parser never panics and every diagnostic points inside the text,
//! whatever the input: random bytes, random token soup, and mutations of a
//! valid program.

use nfl_syntax::ast::*;
use nfl_syntax::diag::render_all;
use nfl_syntax::{Diagnostic, SourceMap, parse};
use proptest::prelude::*;

const VALID: &str = r#"import std.net
const LIMIT: u16 = 1_500
header ethernet { dst: u48, src: u48, ethertype: u16 }
header vlan[2] { pcp: u3; dei: u1; vid: u12; ethertype: u16 }
header ipv4 { version: u4, ihl: u4, tos: u8, len: u16, id: u16, flags: u3,
              frag: u13, ttl: u8, proto: u8, csum: u16, src: u32, dst: u32 }
meta { hits: u32, flag: bool }
/* block comment */
parser p {
    state start {
        extract ethernet
        select ethernet.ethertype {
            0x8100 | 0x88a8: parse_vlan
            0x0800: parse_ipv4
            _: accept
        }
    }
    state parse_vlan { extract vlan; select vlan.last.ethertype { 0x8100: parse_vlan, _: accept } }
    state parse_ipv4 {
        extract ipv4
        skip ((ipv4.ihl as u16) - 5) * 4
        select (ipv4.version, ipv4.proto) { (4, 6..=17): accept, (4, 0x10 &&& 0xf0) | (_, 1): reject, _: accept }
    }
}
action count(n: u32) { meta.hits += n }
config { rate: u32 = 100, guard: bool, nets: set<u32> = {10.0.0.0/8, 1..=2 | 3} }
table acl {
    key { ipv4.src: lpm; (ipv4.proto, meta.hits): exact }
    actions { count, allow }
    default count(1)
    size 1024
    masks 8
    entries {
        (198.18.0.0/15, 6): allow
        (_, 0x10 &&& 0xf0): count(2)
    }
}
counter hits[64]
map flows: (u32, u16) -> u64 size 65536 idle 30s
meter per_src: token_bucket(rate = config.rate, burst = 2 * config.rate) keyed ipv4.src
pool ports: ports(first = 20000, last = 29999)
control filter(xdp, p) {
    acl.apply()
    let port = ports.take() else { drop }
    flows[ipv4.src, port] += 1
    if per_src.take(1) && hits[3].count() > 250ms { pass }
    if pkt.rejected { drop }
    if ipv4.valid && ipv4.src in 198.18.0.0/15 { drop }
    else if ipv4.valid && ipv4.dst in {10.0.0.1, 10.0.0.2 | 10.0.0.3, 0..1024} { count(1) }
    else { let x: u16 = -(ipv4.len as u16) * 3 + 1 << 2; meta.flag = x == 4 || !true }
    ethernet.dst = 02:00:00:00:00:01
    vlan[0].vid ^= 0b1010_1010 // trailing comment
    redirect(pkt.ifindex)
}
"#;

const TOKENS: &[&str] = &[
    "import", "const", "header", "meta", "parser", "state", "extract", "skip", "select", "accept", "reject", "goto",
    "action", "control", "let", "if", "else", "pass", "drop", "tx", "abort", "redirect", "in", "as", "true", "false",
    "xdp", "tc", "config", "table", "counter", "map", "meter", "pool", "key", "actions", "default", "size", "masks",
    "entries", "idle", "keyed", "set", "exact", "lpm", "30s", "0x10s", "99999999999h", "->", "<", ">", ".take()",
    "x", "ipv4", "u8", "u16", "bool", "int", "_", "0", "0x0800", "0b1", "1_000", "99999999999999999999",
    "198.18.0.1", "300.1.1.1", "1.5", "02:00:00:00:00:01", "aa:bb:cc:dd:ee:f", "{", "}", "(", ")", "[", "]", ":", ";",
    ",", ".", "..", "..=", "&&&", "|", "||", "&&", "&", "^", "~", "!", "-", "+", "*", "/", "%", "<<", ">>", "==",
    "!=", "<", "<=", ">", ">=", "=", "+=", "-=", "&=", "|=", "^=", "/*", "*/", "//", "\n", " ", "\t", "é", "\u{0}",
];

/// Every span of the AST lies inside `text` on char boundaries, starts and
/// ends at a token (no surrounding whitespace, so none reaches into an
/// element that recovery blanked out), every name is the text under its
/// span, and expression ids are `0..n_exprs`, each once.
struct AstCheck<'t> {
    text: &'t str,
    ids: Vec<u32>,
}

impl AstCheck<'_> {
    fn span(&mut self, span: Span) {
        let (start, end) = (span.start as usize, span.end as usize);
        assert!(start <= end && end <= self.text.len(), "span {span:?} outside the text");
        let Some(piece) = self.text.get(start..end) else { panic!("span {span:?} not on char boundaries") };
        assert_eq!(piece, piece.trim(), "span {span:?} has surrounding whitespace");
    }

    fn ident(&mut self, id: &Ident) {
        self.span(id.span);
        assert_eq!(self.text.get(id.span.range()), Some(id.name.as_str()), "name {id:?} is not its span's text");
    }

    fn ty(&mut self, t: &TypeRef) {
        self.span(t.span);
    }

    fn expr(&mut self, e: &Expr) {
        self.ids.push(e.id.0);
        self.span(e.span);
        match &e.kind {
            ExprKind::Int(_) | ExprKind::Ipv4(_) | ExprKind::Mac(_) | ExprKind::Bool(_) | ExprKind::Duration(_) | ExprKind::Decimal { .. } => {}
            ExprKind::Name(n) => self.ident(n),
            ExprKind::Field { base, name } => {
                self.expr(base);
                self.ident(name);
            }
            ExprKind::Index { base, index } => {
                self.expr(base);
                self.expr(index);
            }
            ExprKind::MethodCall { receiver, method, args } => {
                self.expr(receiver);
                self.ident(method);
                args.iter().for_each(|a| self.expr(a));
            }
            ExprKind::Tuple(items) => items.iter().for_each(|i| self.expr(i)),
            ExprKind::Unary { operand, .. } => self.expr(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::Cast { expr, ty } => {
                self.expr(expr);
                self.ty(ty);
            }
            ExprKind::In { expr, pattern } => {
                self.expr(expr);
                self.pattern(pattern);
            }
        }
    }

    fn pattern(&mut self, p: &Pattern) {
        match p {
            Pattern::Wildcard(s) => self.span(*s),
            Pattern::Value(e) => self.expr(e),
            Pattern::Mask { value, mask, span } => {
                self.span(*span);
                self.expr(value);
                self.expr(mask);
            }
            Pattern::Range { lo, hi, span, .. } => {
                self.span(*span);
                self.expr(lo);
                self.expr(hi);
            }
            Pattern::Prefix { addr, len_span, span, .. } => {
                self.span(*span);
                self.span(*len_span);
                self.expr(addr);
            }
            Pattern::Set { items, span } => {
                self.span(*span);
                items.iter().for_each(|p| self.pattern(p));
            }
        }
    }

    fn fields(&mut self, fields: &[FieldDecl]) {
        for f in fields {
            self.span(f.span);
            self.ident(&f.name);
            self.ty(&f.ty);
        }
    }

    fn block(&mut self, b: &Block) {
        self.span(b.span);
        b.stmts.iter().for_each(|s| self.stmt(s));
    }

    fn stmt(&mut self, s: &Stmt) {
        self.span(s.span());
        match s {
            Stmt::Let { name, ty, value, else_block, .. } => {
                self.ident(name);
                if let Some(t) = ty {
                    self.ty(t);
                }
                self.expr(value);
                if let Some(b) = else_block {
                    self.block(b);
                }
            }
            Stmt::Expr { expr, .. } => self.expr(expr),
            Stmt::Assign { target, value, .. } => {
                self.expr(target);
                self.expr(value);
            }
            Stmt::If { cond, then_block, else_block, .. } => {
                self.expr(cond);
                self.block(then_block);
                match else_block {
                    None => {}
                    Some(ElseBranch::Block(b)) => self.block(b),
                    Some(ElseBranch::If(s)) => self.stmt(s),
                }
            }
            Stmt::Verdict { .. } => {}
            Stmt::Redirect { ifindex, .. } => self.expr(ifindex),
            Stmt::Call { callee, args, .. } => {
                self.ident(callee);
                args.iter().for_each(|a| self.expr(a));
            }
            Stmt::For { var, start, end, body, .. } => {
                self.ident(var);
                self.expr(start);
                self.expr(end);
                self.block(body);
            }
            Stmt::Stage { body, .. } => self.block(body),
        }
    }

    fn action_ref(&mut self, a: &ActionRef) {
        self.span(a.span);
        self.ident(&a.name);
        a.args.iter().for_each(|e| self.expr(e));
    }

    fn opt(&mut self, e: &Option<Expr>) {
        if let Some(e) = e {
            self.expr(e);
        }
    }

    fn module(&mut self, m: &Module) {
        for item in &m.items {
            match item {
                Item::Import(i) => {
                    self.span(i.span);
                    i.path.iter().for_each(|p| self.ident(p));
                }
                Item::Const(c) => {
                    self.span(c.span);
                    self.ident(&c.name);
                    if let Some(t) = &c.ty {
                        self.ty(t);
                    }
                    self.expr(&c.value);
                }
                Item::Header(h) => {
                    self.span(h.span);
                    self.ident(&h.name);
                    if let Some((_, s)) = h.stack {
                        self.span(s);
                    }
                    self.fields(&h.fields);
                }
                Item::Meta(m) => {
                    self.span(m.span);
                    self.fields(&m.fields);
                }
                Item::Parser(p) => {
                    self.span(p.span);
                    self.ident(&p.name);
                    for state in &p.states {
                        self.span(state.span);
                        self.ident(&state.name);
                        for st in &state.body {
                            match st {
                                ParserStmt::Extract { header, span } => {
                                    self.span(*span);
                                    self.ident(header);
                                }
                                ParserStmt::Skip { amount, span } => {
                                    self.span(*span);
                                    self.expr(amount);
                                }
                            }
                        }
                        match &state.transition {
                            None => {}
                            Some(Transition::Accept(s) | Transition::Reject(s)) => self.span(*s),
                            Some(Transition::Goto(n)) => self.ident(n),
                            Some(Transition::Select(sel)) => {
                                self.span(sel.span);
                                sel.keys.iter().for_each(|k| self.expr(k));
                                for case in &sel.cases {
                                    self.span(case.span);
                                    case.alternatives.iter().flatten().for_each(|p| self.pattern(p));
                                    match &case.target {
                                        Target::Accept(s) | Target::Reject(s) => self.span(*s),
                                        Target::State(n) => self.ident(n),
                                    }
                                }
                            }
                        }
                    }
                }
                Item::Action(a) => {
                    self.span(a.span);
                    self.ident(&a.name);
                    for p in &a.params {
                        self.span(p.span);
                        self.ident(&p.name);
                        self.ty(&p.ty);
                    }
                    self.block(&a.body);
                }
                Item::Control(c) => {
                    self.span(c.span);
                    self.ident(&c.name);
                    self.span(c.hook_span);
                    if let Some(p) = &c.parser {
                        self.ident(p);
                    }
                    self.block(&c.body);
                }
                Item::Config(c) => {
                    self.span(c.span);
                    for p in &c.params {
                        self.span(p.span);
                        self.ident(&p.name);
                        match &p.ty {
                            ConfigType::Scalar(t) => self.ty(t),
                            ConfigType::Set(t, s) => {
                                self.ty(t);
                                self.span(*s);
                            }
                        }
                        match &p.default {
                            None => {}
                            Some(ConfigDefault::Expr(e)) => self.expr(e),
                            Some(ConfigDefault::Set(pat)) => {
                                assert!(matches!(pat, Pattern::Set { .. }), "{pat:?}");
                                self.pattern(pat);
                            }
                        }
                    }
                }
                Item::Table(t) => {
                    self.span(t.span);
                    self.ident(&t.name);
                    for k in &t.keys {
                        self.span(k.span);
                        self.span(k.kind_span);
                        k.exprs.iter().for_each(|e| self.expr(e));
                    }
                    t.actions.iter().for_each(|a| self.ident(a));
                    if let Some(d) = &t.default {
                        self.action_ref(d);
                    }
                    self.opt(&t.size);
                    self.opt(&t.masks);
                    for entry in t.entries.iter().flatten() {
                        self.span(entry.span);
                        entry.patterns.iter().for_each(|p| self.pattern(p));
                        self.action_ref(&entry.action);
                    }
                }
                Item::Counter(c) => {
                    self.span(c.span);
                    self.ident(&c.name);
                    self.opt(&c.size);
                }
                Item::Map(m) => {
                    self.span(m.span);
                    self.ident(&m.name);
                    m.key.iter().for_each(|t| self.ty(t));
                    self.ty(&m.value);
                    self.opt(&m.size);
                    self.opt(&m.idle);
                }
                Item::Object(o) => {
                    self.span(o.span);
                    self.ident(&o.name);
                    self.ident(&o.ctor);
                    for a in &o.args {
                        self.span(a.span);
                        self.ident(&a.name);
                        self.expr(&a.value);
                    }
                    o.keyed.iter().flatten().for_each(|e| self.expr(e));
                }
            }
        }
        let mut ids = std::mem::take(&mut self.ids);
        ids.sort_unstable();
        assert!(ids.iter().copied().eq(0..m.n_exprs), "expression ids are not 0..{}: {ids:?}", m.n_exprs);
    }
}

fn check(text: &str) -> Vec<Diagnostic> {
    check_module(text).1
}

fn check_module(text: &str) -> (Module, Vec<Diagnostic>) {
    let (module, diags) = parse(FileId(0), text);
    AstCheck { text, ids: Vec::new() }.module(&module);
    for d in &diags {
        assert!(!d.labels.is_empty(), "diagnostic without a label: {d:?}");
        assert!(d.help.is_some(), "diagnostic without help: {d:?}");
        assert!(d.code.starts_with("nfl::E01"), "unexpected code {}", d.code);
        for label in &d.labels {
            assert!(label.span.start <= label.span.end, "inverted span {:?} in {d:?}", label.span);
            assert!((label.span.end as usize) <= text.len(), "span {:?} past end {} in {d:?}", label.span, text.len());
            assert!(text.is_char_boundary(label.span.start as usize), "span start not on a char boundary: {d:?}");
            assert!(text.is_char_boundary(label.span.end as usize), "span end not on a char boundary: {d:?}");
        }
    }
    assert!(module.n_exprs as usize <= text.len() + 1);
    // Rendering must not panic either.
    let mut sources = SourceMap::new();
    sources.add("fuzz.nf", text);
    let _ = render_all(&diags, &sources, false);
    (module, diags)
}

/// One mutation of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Duplicate(usize, usize, usize),
    Swap(usize, usize, usize),
    InsertToken(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0usize..12).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..4)).prop_map(|(a, b)| Mutation::Insert(a, b)),
        (any::<usize>(), 0usize..40, any::<usize>()).prop_map(|(a, n, to)| Mutation::Duplicate(a, n, to)),
        (any::<usize>(), 0usize..20, any::<usize>()).prop_map(|(a, n, b)| Mutation::Swap(a, n, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, t)| Mutation::InsertToken(a, t)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    let at = |i: usize| if len == 0 { 0 } else { i % (len + 1) };
    match m {
        Mutation::Delete(a, n) => {
            let s = at(*a);
            let e = (s + n).min(len);
            bytes.drain(s..e);
        }
        Mutation::Insert(a, b) => {
            let s = at(*a);
            bytes.splice(s..s, b.iter().copied());
        }
        Mutation::Duplicate(a, n, to) => {
            let s = at(*a);
            let e = (s + n).min(len);
            let piece: Vec<u8> = bytes[s..e].to_vec();
            let to = at(*to);
            bytes.splice(to..to, piece);
        }
        Mutation::Swap(a, n, b) => {
            let s1 = at(*a);
            let e1 = (s1 + n).min(len);
            let s2 = at(*b);
            let e2 = (s2 + n).min(len);
            if e1 <= s2 {
                let second: Vec<u8> = bytes[s2..e2].to_vec();
                let first: Vec<u8> = bytes[s1..e1].to_vec();
                bytes.splice(s2..e2, first);
                bytes.splice(s1..e1, second);
            }
        }
        Mutation::InsertToken(a, t) => {
            let s = at(*a);
            let token = TOKENS[t % TOKENS.len()];
            bytes.splice(s..s, token.bytes());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_strings_never_panic(text in "\\PC{0,200}") {
        check(&text);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn token_soup_never_panics(picks in proptest::collection::vec(any::<usize>(), 0..60)) {
        let text: String = picks.iter().map(|i| TOKENS[i % TOKENS.len()]).collect::<Vec<_>>().join(" ");
        check(&text);
    }

    #[test]
    fn mutated_program_never_panics(mutations in proptest::collection::vec(mutation(), 1..6)) {
        let mut bytes = VALID.as_bytes().to_vec();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        check(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn valid_program_has_no_diagnostics() {
    let diags = check(VALID);
    assert!(diags.is_empty(), "{diags:#?}");
}

/// A deletion inside one item breaks only that item: the others still parse.
#[test]
fn one_broken_item_keeps_the_others() {
    let text = VALID.replace("meta { hits: u32, flag: bool }", "meta { hits: u32, flag: }");
    let (module, diags) = parse(FileId(0), &text);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    // Every item is kept; `meta` keeps only the field that parsed.
    assert_eq!(module.items.len(), 15);
    let metas: Vec<&MetaDecl> = module
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Meta(m) => Some(m),
            _ => None,
        })
        .collect();
    let [meta] = metas.as_slice() else { panic!("{metas:?}") };
    assert_eq!(meta.fields.iter().map(|f| f.name.name.as_str()).collect::<Vec<_>>(), ["hits"]);
}

fn run_with_small_stack(text: String) -> Vec<Diagnostic> {
    // 2 MiB is the default stack of a test thread; make it explicit.
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || parse(FileId(0), &text).1)
        .expect("spawn")
        .join()
        .expect("parser panicked or overflowed")
}

#[test]
fn deep_nesting_is_reported_not_overflowed() {
    for (open, close) in [("(", ")"), ("[", "]"), ("{", "}")] {
        let text = format!("const X = {}1{}", open.repeat(100_000), close.repeat(100_000));
        let diags = run_with_small_stack(text);
        assert!(diags.iter().any(|d| d.code == "nfl::E0108"), "{open}: {diags:#?}");
    }
    let text = format!("control c(xdp) {{ {}drop{} }}", "if x { ".repeat(5_000), " }".repeat(5_000));
    let diags = run_with_small_stack(text);
    assert!(diags.iter().any(|d| d.code == "nfl::E0108"), "{diags:#?}");
}

#[test]
fn nesting_just_under_the_limit_parses() {
    let text = format!("const X = {}1{}", "(".repeat(250), ")".repeat(250));
    let diags = run_with_small_stack(text);
    assert!(diags.is_empty(), "{diags:#?}");
    let text = format!("control c(xdp) {{ {}drop{} }}", "if x { ".repeat(250), " }".repeat(250));
    let diags = run_with_small_stack(text);
    assert!(diags.is_empty(), "{diags:#?}");
}

#[test]
fn long_flat_chains_are_bounded() {
    let long_sum = format!("const X = 1{}", " + 1".repeat(50_000));
    let diags = run_with_small_stack(long_sum);
    assert!(diags.iter().any(|d| d.code == "nfl::E0108"), "{diags:#?}");
    let unary = format!("const X = {}1", "-".repeat(50_000));
    let diags = run_with_small_stack(unary);
    assert!(diags.iter().any(|d| d.code == "nfl::E0108"), "{diags:#?}");
    let fields = format!("const X = a{}", ".b".repeat(50_000));
    let diags = run_with_small_stack(fields);
    assert!(diags.iter().any(|d| d.code == "nfl::E0108"), "{diags:#?}");
    let chain = format!("control c(xdp) {{ if a {{ }}{} }}", " else if a { }".repeat(5_000));
    let diags = run_with_small_stack(chain);
    assert!(diags.iter().any(|d| d.code == "nfl::E0108"), "{diags:#?}");
}

#[test]
fn many_items_and_errors_are_fast() {
    let mut text = String::new();
    for i in 0..2_000 {
        text.push_str(&format!("const C{i} = {i}\nconst D{i} = +\n"));
    }
    let start = std::time::Instant::now();
    let (module, diags) = parse(FileId(0), &text);
    assert_eq!(module.items.len(), 2_000);
    assert_eq!(diags.len(), 2_000);
    assert!(start.elapsed().as_secs() < 10, "took {:?}", start.elapsed());
}

/// The statements of VALID's control, one per entry.
const CONTROL_STMTS: &[&str] = &[
    "if pkt.rejected { drop }",
    "if ipv4.valid && ipv4.src in 198.18.0.0/15 { drop }
    else if ipv4.valid && ipv4.dst in {10.0.0.1, 10.0.0.2 | 10.0.0.3, 0..1024} { count(1) }
    else { let x: u16 = -(ipv4.len as u16) * 3 + 1 << 2; meta.flag = x == 4 || !true }",
    "ethernet.dst = 02:00:00:00:00:01",
    "vlan[0].vid ^= 0b1010_1010 // trailing comment",
    "acl.apply()",
    "let v = flows.get(a, b) else { drop }",
    "flows[a, b] += v",
    "hits[1].count()",
    "redirect(pkt.ifindex)",
];

/// Statements with one syntax error each, that end on their own line.
const BROKEN_STMTS: &[&str] = &[
    "x == 1",
    "let = 1",
    "redirect(1 2)",
    "a b c",
    "if a b { drop }",
    "foo(1 +)",
    "let x: = 3",
    "ipv4.ttl = = 2",
    "drop drop2",
    "meta.hits",
    "vlan[0 1].vid = 2",
    "x in {1, 2} = 3",
    "acl.apply",
    "flows[, a] = 1",
    "let v = m.get() else drop",
    "m.take() + 1",
    "hits[1] count()",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, failure_persistence: None, ..ProptestConfig::default() })]

    /// N broken statements among good ones give N diagnostics, and every
    /// good statement is kept.
    #[test]
    fn each_broken_statement_gives_one_diagnostic(
        picks in proptest::collection::vec((0..=CONTROL_STMTS.len(), any::<usize>()), 1..8)
    ) {
        let prefix = VALID.split("control filter").next().unwrap_or("");
        let mut body: Vec<Vec<&str>> = vec![Vec::new(); CONTROL_STMTS.len() + 1];
        for (slot, which) in &picks {
            body[*slot].push(BROKEN_STMTS[which % BROKEN_STMTS.len()]);
        }
        let mut text = format!("{prefix}control filter(xdp, p) {{\n");
        for (i, broken) in body.iter().enumerate() {
            for b in broken {
                text.push_str(&format!("    {b}\n"));
            }
            if let Some(good) = CONTROL_STMTS.get(i) {
                text.push_str(&format!("    {good}\n"));
            }
        }
        text.push_str("}\n");
        let (module, diags) = check_module(&text);
        prop_assert_eq!(diags.len(), picks.len(), "{}", text);
        let control = module.items.iter().find_map(|i| match i {
            Item::Control(c) => Some(c),
            _ => None,
        });
        prop_assert!(control.is_some(), "no control: {}", text);
        let kept: Vec<&str> = control.map(|c| c.body.stmts.iter().map(|s| &text[s.span().range()]).collect()).unwrap_or_default();
        let want: Vec<&str> = CONTROL_STMTS.iter().map(|s| s.trim_end_matches(" // trailing comment")).collect();
        prop_assert_eq!(kept, want);
    }
}

const GOOD_KEYS: &[&str] = &["ipv4.src: ternary", "(a.b, c): lpm", "meta.port: range", "x[1].y: exact"];
const BROKEN_KEYS: &[&str] = &["ipv4.src ternary", "a.b: : lpm", "meta.x: 3", "(a b): exact", "k: exact()"];
const GOOD_ENTRIES: &[&str] = &["(1, _): allow", "10.0.0.0/8: deny", "_: set_mark(3)", "(0..10, 5 &&& 7): deny"];
const BROKEN_ENTRIES: &[&str] = &["(1 2): allow", "(1, 2) allow", "3: 4", "_ _: allow", "1: a b"];

/// `good` with the `broken` lines inserted where `picks` say.
fn interleave(good: &[&str], broken: &[&str], picks: &[(usize, usize)], indent: &str) -> String {
    let mut lines: Vec<Vec<&str>> = vec![Vec::new(); good.len() + 1];
    for (slot, which) in picks {
        lines[slot % (good.len() + 1)].push(broken[which % broken.len()]);
    }
    let mut text = String::new();
    for (i, slot) in lines.iter().enumerate() {
        for b in slot {
            text.push_str(&format!("{indent}{b}\n"));
        }
        if let Some(g) = good.get(i) {
            text.push_str(&format!("{indent}{g}\n"));
        }
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, failure_persistence: None, ..ProptestConfig::default() })]

    /// N broken keys and entries in a table give N diagnostics, and every
    /// good key, entry and section is kept.
    #[test]
    fn each_broken_table_line_gives_one_diagnostic(
        key_picks in proptest::collection::vec((any::<usize>(), any::<usize>()), 0..4),
        entry_picks in proptest::collection::vec((any::<usize>(), any::<usize>()), 0..4),
    ) {
        let text = format!(
            "const A = 1\ntable t {{\n    key {{\n{}    }}\n    actions {{ allow, deny }}\n    entries {{\n{}    }}\n    size 16\n}}\nconst B = 2\n",
            interleave(GOOD_KEYS, BROKEN_KEYS, &key_picks, "        "),
            interleave(GOOD_ENTRIES, BROKEN_ENTRIES, &entry_picks, "        "),
        );
        let (module, diags) = check_module(&text);
        prop_assert_eq!(diags.len(), key_picks.len() + entry_picks.len(), "{}", text);
        prop_assert_eq!(module.items.len(), 3, "{}", text);
        let Some(Item::Table(t)) = module.items.get(1) else { panic!("{:?}", module.items) };
        let keys: Vec<&str> = t.keys.iter().map(|k| &text[k.span.range()]).collect();
        prop_assert_eq!(keys, GOOD_KEYS.to_vec());
        let entries: Vec<&str> = t.entries.iter().flatten().map(|e| &text[e.span.range()]).collect();
        prop_assert_eq!(entries, GOOD_ENTRIES.to_vec());
        prop_assert_eq!(t.actions.len(), 2);
        prop_assert!(t.size.is_some());
    }
}

/// Method calls, tuple keys and table entries nest without re-parsing their
/// insides more than a fixed number of times, even when the innermost part
/// is broken and every alternative fails.
#[test]
fn nested_calls_and_keys_parse_in_linear_time() {
    let depth = 240;
    let nested = |inner: &str| format!("{}{inner}{}", "m.f(".repeat(depth), ")".repeat(depth));
    let start = std::time::Instant::now();
    for inner in ["1", "1 +", "(a, b)"] {
        let call = nested(inner);
        for text in [
            format!("const X = {call}"),
            format!("control c(xdp) {{\n    {call}\n    {call}.g() = 1\n    let x = {call} else {{ {call} }}\n}}"),
            format!("table t {{ key {{ ({call}, {call}): exact }}\n entries {{ ({call}, _): a({call}) }} }}"),
            format!("meter m: b(r = {call}) keyed ({call}, {call})"),
        ] {
            let diags = run_with_small_stack(text.clone());
            assert!(diags.iter().all(|d| d.code != "nfl::E0108"), "{diags:#?}");
            assert_eq!(diags.is_empty(), inner == "1", "{inner}: {diags:#?}");
        }
    }
    assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
}
