//! Helpers shared by the parser tests.
#![allow(dead_code)]

use nfl_syntax::ast::*;
use nfl_syntax::diag::render_all;
use nfl_syntax::{Diagnostic, SourceMap, parse};

pub fn parse_ok(text: &str) -> Module {
    let (module, diags) = parse(FileId(0), text);
    assert!(diags.is_empty(), "unexpected diagnostics for:\n{text}\n{}", render(text, &diags));
    module
}

pub fn render(text: &str, diags: &[Diagnostic]) -> String {
    let mut sources = SourceMap::new();
    sources.add("test.nf", text);
    render_all(diags, &sources, false)
}

pub fn codes(text: &str) -> Vec<&'static str> {
    parse(FileId(0), text).1.iter().map(|d| d.code).collect()
}

/// A compact, fully parenthesized rendering of an expression.
pub fn sexp(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Ipv4(v) => format!("ip:{:#x}", v),
        ExprKind::Mac(v) => format!("mac:{:#x}", v),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Name(n) => n.name.clone(),
        ExprKind::Field { base, name } => format!("{}.{}", sexp(base), name.name),
        ExprKind::Index { base, index } => format!("{}[{}]", sexp(base), sexp(index)),
        ExprKind::MethodCall { receiver, method, args } => {
            format!("{}.{}({})", sexp(receiver), method.name, args.iter().map(sexp).collect::<Vec<_>>().join(", "))
        }
        ExprKind::Tuple(items) => format!("(tuple {})", items.iter().map(sexp).collect::<Vec<_>>().join(" ")),
        ExprKind::Duration(ns) => format!("{ns}ns"),
        ExprKind::Decimal { units, scale } => format!("{units}e-{scale}"),
        ExprKind::Unary { op, operand } => {
            let sym = match op {
                UnOp::Not => "!",
                UnOp::BitNot => "~",
                UnOp::Neg => "-",
            };
            format!("({sym} {})", sexp(operand))
        }
        ExprKind::Binary { op, lhs, rhs } => format!("({} {} {})", op.symbol(), sexp(lhs), sexp(rhs)),
        ExprKind::Cast { expr, ty } => format!("(as {} {:?})", sexp(expr), ty.ty),
        ExprKind::In { expr, pattern } => format!("(in {} {})", sexp(expr), pat(pattern)),
    }
}

pub fn pat(p: &Pattern) -> String {
    match p {
        Pattern::Wildcard(_) => "_".to_string(),
        Pattern::Value(e) => sexp(e),
        Pattern::Mask { value, mask, .. } => format!("(mask {} {})", sexp(value), sexp(mask)),
        Pattern::Range { lo, hi, inclusive, .. } => {
            format!("({} {} {})", if *inclusive { "..=" } else { ".." }, sexp(lo), sexp(hi))
        }
        Pattern::Prefix { addr, len, .. } => format!("(prefix {} {len})", sexp(addr)),
        Pattern::Set { items, .. } => format!("{{{}}}", items.iter().map(pat).collect::<Vec<_>>().join(", ")),
    }
}

/// The value of `const X = <src>`.
pub fn expr_of(src: &str) -> Expr {
    let text = format!("const X = {src}");
    let module = parse_ok(&text);
    match module.items.into_iter().next() {
        Some(Item::Const(c)) => c.value,
        other => panic!("expected a const, got {other:?}"),
    }
}

pub fn e(src: &str) -> String {
    sexp(&expr_of(src))
}

pub fn control_body(text: &str) -> Vec<Stmt> {
    let module = parse_ok(text);
    module
        .items
        .into_iter()
        .find_map(|i| match i {
            Item::Control(c) => Some(c.body.stmts),
            _ => None,
        })
        .expect("a control")
}

pub fn rendered(text: &str) -> String {
    let (_, diags) = parse(FileId(0), text);
    assert!(!diags.is_empty(), "expected diagnostics for {text:?}");
    render(text, &diags)
}

/// The text under each diagnostic's primary span, with its code.
pub fn spans_of(text: &str, diags: &[Diagnostic]) -> Vec<(&'static str, String)> {
    diags
        .iter()
        .map(|d| {
            let span = d.primary_span().expect("a span");
            (d.code, text[span.range()].to_string())
        })
        .collect()
}

/// Expression ids, read back from the AST's debug form, are `0..n_exprs`.
pub fn assert_dense_ids(module: &Module) {
    let dump = format!("{module:?}");
    let mut ids: Vec<u32> = dump
        .split("id: e")
        .skip(1)
        .map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("").parse().expect("an id"))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..module.n_exprs).collect::<Vec<_>>());
}
