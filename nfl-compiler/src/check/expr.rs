//! Expression typing and lowering.
//!
//! Literal typing: an integer literal (or an untyped constant) has no width
//! of its own. It takes the width the context expects: the other operand of
//! a binary operator, the declared type of a `let`/`const`, the assigned
//! place, the action parameter, `u32` for `redirect`. An expression made only
//! of untyped literals (`1 + 2`, `let x = 5`) defaults to `u64`. A literal
//! that does not fit its width is E0305.

use std::collections::HashSet;

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::{self, BinOp as ABin, ExprKind as AK, Ident, Span, UnOp as AUn};

use super::eval::eval;
use super::{Checker, ConstState, Global, fits, ones, ty_str};
use crate::hir::{self, Expr, ExprKind, HdrSel, HeaderId, HeaderRef, LocalId, PktField, Ty, UnOp};

/// Where an expression is being checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A constant expression: `const` values, patterns, stack indices.
    Const,
    /// A parser state: header reads need a definite `extract`.
    Parser,
    /// The control block or an action: header reads need a validity guard.
    Control,
}

/// The checking context of one expression.
pub(crate) struct Cx {
    pub mode: Mode,
    /// Locals in scope, innermost last.
    pub scope: Vec<(String, LocalId, Ty)>,
    /// Control mode: header instances known valid here.
    pub valid: HashSet<HeaderRef>,
    /// Parser mode: per header, how many instances are definitely extracted.
    pub extracted: Vec<u32>,
    /// The action being lowered, to record call edges.
    pub action: Option<hir::ActionId>,
    /// In an action: uses of header instances not proven valid in the body,
    /// checked at each call site instead of reported here.
    pub requires: Vec<(HeaderRef, Span, bool)>,
    /// Collect header requirements in `requires` instead of reporting them
    /// (table keys: checked at each `apply`).
    pub deferred: bool,
    /// `for` loop variables in scope, innermost last, with this
    /// iteration's value (a constant).
    pub loop_vars: Vec<(String, u64)>,
    /// Headers the parser never extracts that some path made valid
    /// (`set_valid`): inserting one again is an error (E0505).
    pub inserted: HashSet<hir::HeaderId>,
    /// The headers made valid by the `set_valid` statements just before
    /// this one in the same block (one resize: placed in deparse order).
    pub insert_run: HashSet<hir::HeaderId>,
    /// True only in the control's own block, where `stage { }` may stand.
    pub stage_ok: bool,
}

impl Cx {
    pub(crate) fn new(mode: Mode) -> Cx {
        Cx { mode, scope: Vec::new(), valid: HashSet::new(), extracted: Vec::new(), action: None, requires: Vec::new(), deferred: false, loop_vars: Vec::new(), inserted: HashSet::new(), insert_run: HashSet::new(), stage_ok: false }
    }

    pub(crate) fn local(&self, name: &str) -> Option<(LocalId, Ty)> {
        self.scope.iter().rev().find(|(n, _, _)| n == name).map(|(_, id, ty)| (*id, *ty))
    }
}

/// Names the standard library declares, to suggest `import std.net`.
const STD_NAMES: [&str; 10] = ["ethernet", "vlan", "arp", "ipv4", "ipv6", "icmp", "icmpv6", "tcp", "udp", "std_parse"];

pub(super) fn konst(v: u64, ty: Ty, span: Span) -> Expr {
    Expr { kind: ExprKind::Const(v), ty, span }
}

impl Checker<'_> {
    /// Type and lower `e`. `expected` is the type the context wants; it
    /// decides the width of untyped literals but is not enforced here (see
    /// [`Checker::coerce`]).
    pub(crate) fn expr(&mut self, cx: &mut Cx, e: &ast::Expr, expected: Option<Ty>) -> Option<Expr> {
        let span = e.span;
        match &e.kind {
            AK::Int(v) => self.literal(*v, expected, span, None),
            AK::Ipv4(v) => Some(konst(u64::from(*v), Ty::UInt(32), span)),
            AK::Mac(v) => Some(konst(*v & ones(48), Ty::UInt(48), span)),
            AK::Bool(b) => Some(konst(u64::from(*b), Ty::Bool, span)),
            AK::Name(id) => self.name_expr(cx, id, expected),
            AK::Field { base, name } => self.field_expr(cx, base, name, span),
            AK::Index { base, index } => {
                if let Some(read) = self.map_index_expr(cx, base, index, span) {
                    return read;
                }
                // Check the stack reference for its own errors first.
                let sel = self.header_sel(cx, e);
                if sel.is_some() {
                    self.emit(
                        Diagnostic::error("nfl::E0207", "a header is not a value", span, "this is a header instance")
                            .with_help("read one of its fields (`vlan[0].vid`) or test `.valid`"),
                    );
                }
                None
            }
            AK::MethodCall { receiver, method, args } => self.method_expr(cx, receiver, method, args, span),
            AK::Tuple(_) => {
                self.emit(
                    Diagnostic::error("nfl::E0335", "several values only make sense as a map key", span, "not a map key")
                        .with_help("index a map with them: `flows[a, b]`"),
                );
                None
            }
            AK::Duration(ns) => self.literal(*ns, expected.or(Some(Ty::UInt(64))), span, None),
            AK::Decimal { .. } => {
                self.emit(
                    Diagnostic::error("nfl::E0342", "a fraction is only a sketch's sizing argument", span, "not an integer")
                        .with_help("values are integers; fractions size sketches, as in `count_min(eps = 0.001, delta = 0.01)`"),
                );
                None
            }
            AK::Unary { op, operand } => self.unary(cx, *op, operand, expected, span),
            AK::Binary { op, lhs, rhs } => self.binary(cx, *op, lhs, rhs, expected, span),
            AK::Cast { expr, ty } => {
                let target = self.ty_of(ty);
                let inner = if self.is_untyped(expr) {
                    self.expr(cx, expr, Some(Ty::UInt(64)))
                } else {
                    self.expr(cx, expr, None)
                }?;
                match (inner.ty, target) {
                    (Ty::UInt(_), Ty::Bool) => {
                        let help = match self.snippet(expr.span) {
                            Some(s) => format!("compare instead: `{s} != 0`"),
                            None => "compare with zero instead: `x != 0`".to_string(),
                        };
                        self.emit(
                            Diagnostic::error("nfl::E0306", "an integer cannot be cast to `bool`", span, "cast to bool")
                                .with_help(help),
                        );
                        None
                    }
                    (Ty::Bool, Ty::Bool) => Some(inner),
                    _ => Some(Expr { kind: ExprKind::Cast(Box::new(inner)), ty: target, span }),
                }
            }
            AK::In { expr, pattern } => {
                let key = if self.is_untyped(expr) {
                    self.expr(cx, expr, Some(Ty::UInt(64)))
                } else {
                    self.expr(cx, expr, None)
                };
                let key = key?;
                let Ty::UInt(w) = key.ty else {
                    self.emit(
                        Diagnostic::error("nfl::E0306", "`in` needs an integer on its left", key.span, "this is `bool`")
                            .with_help("patterns match unsigned integers; use `==` to compare booleans"),
                    );
                    return None;
                };
                let pat = self.pattern(cx, pattern, w)?;
                Some(Expr { kind: ExprKind::In { expr: Box::new(key), pattern: pat }, ty: Ty::Bool, span })
            }
        }
    }

    /// Lower `e` and require type `want`. `code` overrides the mismatch code
    /// (E0304 for widths, E0306 for bool/int) for contexts with their own.
    pub(crate) fn expr_as(
        &mut self,
        cx: &mut Cx,
        e: &ast::Expr,
        want: Ty,
        code: Option<&'static str>,
        what: &str,
    ) -> Option<Expr> {
        // An integer literal where a bool is wanted is reported by `coerce`,
        // with the context's own code (e.g. E0309 for `if 1`).
        let hint = if want == Ty::Bool && self.is_untyped(e) { None } else { Some(want) };
        let got = self.expr(cx, e, hint)?;
        self.coerce(got, want, code, what)
    }

    /// Report when `e` does not have type `want`.
    pub(crate) fn coerce(&mut self, e: Expr, want: Ty, code: Option<&'static str>, what: &str) -> Option<Expr> {
        if e.ty == want {
            return Some(e);
        }
        let snippet = self.snippet(e.span).unwrap_or_else(|| "EXPR".to_string());
        let (default_code, help) = match (e.ty, want) {
            (Ty::UInt(_), Ty::Bool) => ("nfl::E0306", format!("compare it instead: `{snippet} != 0`")),
            (Ty::Bool, Ty::UInt(w)) => (
                "nfl::E0306",
                format!("a `bool` is not a number; if you need 0 or 1, cast it: `({snippet}) as u{w}`"),
            ),
            (_, Ty::UInt(w)) => ("nfl::E0304", format!("there are no implicit width conversions; cast it: `({snippet}) as u{w}`")),
            (_, Ty::Bool) => ("nfl::E0306", "expected a `bool`".to_string()),
        };
        self.emit(
            Diagnostic::error(
                code.unwrap_or(default_code),
                format!("{what} must be `{}`, found `{}`", ty_str(want), ty_str(e.ty)),
                e.span,
                format!("this is `{}`", ty_str(e.ty)),
            )
            .with_help(help),
        );
        None
    }

    /// An untyped integer (a literal or an untyped constant) at `expected`.
    fn literal(&mut self, v: u64, expected: Option<Ty>, span: Span, const_name: Option<&str>) -> Option<Expr> {
        let what = match const_name {
            Some(n) => format!("constant `{n}` (= {v})"),
            None => format!("literal `{v}`"),
        };
        match expected {
            None => Some(konst(v, Ty::UInt(64), span)),
            Some(Ty::UInt(w)) => {
                if !fits(v, w) {
                    let needed = 64 - v.leading_zeros();
                    self.emit(
                        Diagnostic::error("nfl::E0305", format!("{what} does not fit in `u{w}`"), span, format!("needs {needed} bits"))
                            .with_help(format!("the largest `u{w}` is {}; use a smaller value or a wider type", ones(w))),
                    );
                }
                Some(konst(v & ones(w), Ty::UInt(w), span))
            }
            Some(Ty::Bool) => {
                self.emit(
                    Diagnostic::error("nfl::E0306", format!("expected `bool`, found {what}"), span, "an integer")
                        .with_help("use `true`/`false`, or compare: `x != 0`"),
                );
                None
            }
        }
    }

    /// True when `e` is made only of untyped integers, so its width comes
    /// from the context.
    pub(crate) fn is_untyped(&mut self, e: &ast::Expr) -> bool {
        match &e.kind {
            AK::Int(_) => true,
            // An unrolled loop's variable is a literal in each copy.
            AK::Name(id) if self.unrolled_vars.contains(&id.name) => true,
            AK::Name(id) => match self.globals.get(&id.name).copied() {
                Some((Global::Const(i), _)) => matches!(self.const_value(i), Some(super::ConstVal { ty: None, .. })),
                _ => false,
            },
            AK::Unary { op: AUn::Neg | AUn::BitNot, operand } => self.is_untyped(operand),
            AK::Binary { op, lhs, rhs } if !op.is_comparison() && !op.is_logical() => {
                self.is_untyped(lhs) && self.is_untyped(rhs)
            }
            _ => false,
        }
    }

    fn name_expr(&mut self, cx: &mut Cx, id: &Ident, expected: Option<Ty>) -> Option<Expr> {
        if let Some(&(_, v)) = cx.loop_vars.iter().rev().find(|(n, _)| *n == id.name) {
            return self.literal(v, expected, id.span, Some(&id.name));
        }
        if let Some((local, ty)) = cx.local(&id.name) {
            if cx.mode == Mode::Const {
                self.not_const(id.span, &format!("`{}` is a local", id.name));
                return None;
            }
            return Some(Expr { kind: ExprKind::Local(local), ty, span: id.span });
        }
        match self.globals.get(&id.name).copied() {
            Some((Global::Const(i), _)) => {
                let cv = self.const_value(i)?;
                match cv.ty {
                    None => self.literal(cv.value, expected, id.span, Some(&id.name)),
                    Some(ty) => Some(konst(cv.value, ty, id.span)),
                }
            }
            Some((g, decl)) => {
                let help = match g {
                    Global::Header(_) => format!("read a field (`{}.FIELD`) or test `{}.valid`", id.name, id.name),
                    Global::Action(_) => format!("call it as a statement: `{}(...)`", id.name),
                    Global::Table(_) => format!("apply it as a statement: `{}.apply()`", id.name),
                    Global::Counter(_) => format!("count with `{}.count()`; `nflc stats` reads it", id.name),
                    Global::Map(_) => format!("read an entry: `{}[key]`, or test `{}.contains(key)`", id.name, id.name),
                    Global::Meter(_) => format!("test it: `{}.take(1)`", id.name),
                    Global::Pool(_) => format!("take a value: `let v = {}.take() else {{ drop }}`", id.name),
                    Global::Maglev(_) => format!("pick a member: `let b = {}.pick(group, KEY...) else {{ drop }}`", id.name),
                    Global::Sketch(_) => format!("read it: `{}.query()` (or `.contains()` for a Bloom filter)", id.name),
                    Global::Queue(_) => format!("push to it (`{}.push(..)`) or take from it in `let ... else`", id.name),
                    Global::Parser(_) | Global::Control(_) | Global::Const(_) => "only constants, locals and fields have values".to_string(),
                };
                self.emit(
                    Diagnostic::error("nfl::E0207", format!("{} `{}` is not a value", g.describe(), id.name), id.span, "not a value")
                        .with_label(decl, "declared here")
                        .with_help(help),
                );
                None
            }
            None if id.name == "meta" || id.name == "pkt" || id.name == "config" => {
                self.emit(
                    Diagnostic::error("nfl::E0207", format!("`{}` is not a value", id.name), id.span, "needs a field")
                        .with_help(format!("read one of its fields: `{}.NAME`", id.name)),
                );
                None
            }
            None => {
                self.unknown_name(id);
                None
            }
        }
    }

    pub(crate) fn unknown_name(&mut self, id: &Ident) {
        let similar = super::closest(&id.name, self.globals.keys().map(String::as_str)).map(str::to_string);
        let help = if STD_NAMES.contains(&id.name.as_str()) {
            format!("`{}` is declared by the standard library: add `import std.net`", id.name)
        } else if let Some(s) = similar {
            format!("did you mean `{s}`?")
        } else {
            "declare it (`const`, `header`, `let`, ...) or check the spelling".to_string()
        };
        self.emit(
            Diagnostic::error("nfl::E0203", format!("unknown name `{}`", id.name), id.span, "not found in scope")
                .with_help(help),
        );
    }

    fn not_const(&mut self, span: Span, why: &str) {
        self.emit(
            Diagnostic::error("nfl::E0310", "a constant expression is required here", span, format!("{why}; not a constant"))
                .with_help("use literals, constants and operators only"),
        );
    }

    fn is_local(cx: &Cx, e: &ast::Expr) -> bool {
        matches!(&e.kind, AK::Name(id) if cx.local(&id.name).is_some())
    }

    fn field_expr(&mut self, cx: &mut Cx, base: &ast::Expr, name: &Ident, span: Span) -> Option<Expr> {
        if let AK::Name(b) = &base.kind
            && !Self::is_local(cx, base)
            && !self.globals.contains_key(&b.name)
        {
            if b.name == "config" {
                return self.config_expr(name, span);
            }
            if b.name == "meta" {
                let Some(idx) = self.metas.iter().position(|m| m.name == name.name) else {
                    let known: Vec<String> = self.metas.iter().map(|m| format!("`{}`", m.name)).collect();
                    let help = if known.is_empty() {
                        format!("declare it: `meta {{ {}: u32 }}`", name.name)
                    } else {
                        format!("declared metadata fields: {}; or add `{}` to a `meta` block", known.join(", "), name.name)
                    };
                    self.emit(
                        Diagnostic::error("nfl::E0204", format!("no metadata field `{}`", name.name), name.span, "unknown field")
                            .with_help(help),
                    );
                    return None;
                };
                if cx.mode == Mode::Const {
                    self.not_const(span, "metadata is per packet");
                    return None;
                }
                let ty = self.metas.get(idx)?.ty;
                let id = hir::MetaId(u32::try_from(idx).ok()?);
                return Some(Expr { kind: ExprKind::Meta(id), ty, span });
            }
            if b.name == "pkt" {
                let (f, ty) = match name.name.as_str() {
                    "len" => (PktField::Len, Ty::UInt(32)),
                    "rejected" => (PktField::Rejected, Ty::Bool),
                    "ifindex" => (PktField::Ifindex, Ty::UInt(32)),
                    "offset" => (PktField::Offset, Ty::UInt(16)),
                    _ => {
                        self.emit(
                            Diagnostic::error("nfl::E0204", format!("`pkt` has no field `{}`", name.name), name.span, "unknown field")
                                .with_help("`pkt` has `len` (u32), `rejected` (bool), `ifindex` (u32) and, in a parser, `offset` (u16)"),
                        );
                        return None;
                    }
                };
                match cx.mode {
                    Mode::Const => {
                        self.not_const(span, "packet properties are per packet");
                        return None;
                    }
                    Mode::Parser if f == PktField::Rejected => {
                        self.emit(
                            Diagnostic::error("nfl::E0503", "`pkt.rejected` is not known inside a parser", span, "still parsing")
                                .with_help("test `pkt.rejected` in the control block"),
                        );
                        return None;
                    }
                    Mode::Control if f == PktField::Offset => {
                        self.emit(
                            Diagnostic::error("nfl::E0503", "`pkt.offset` is the parser's position, known only inside a parser", span, "after parsing")
                                .with_help("in the control, use a header's own offset: `tcp.offset`"),
                        );
                        return None;
                    }
                    Mode::Parser | Mode::Control => {}
                }
                return Some(Expr { kind: ExprKind::Pkt(f), ty, span });
            }
        }
        if name.name == "last" {
            // `vlan.last` on its own: resolve for errors, then say it is no value.
            let whole = ast::Expr { id: ast::ExprId(0), kind: AK::Field { base: Box::new(base.clone()), name: name.clone() }, span };
            self.header_sel(cx, &whole)?;
            self.emit(
                Diagnostic::error("nfl::E0207", "a header is not a value", span, "this is a header instance")
                    .with_help("read one of its fields: `H.last.FIELD`"),
            );
            return None;
        }
        let sel = self.header_sel(cx, base)?;
        let header = match sel {
            HdrSel::Fixed(r) => r.header,
            HdrSel::Last(h) => h,
        };
        if name.name == "valid" {
            if cx.mode == Mode::Const {
                self.not_const(span, "validity is per packet");
                return None;
            }
            return Some(Expr { kind: ExprKind::Valid(sel), ty: Ty::Bool, span });
        }
        if name.name == "offset" && self.header(header).is_some_and(|h| !h.fields.iter().any(|f| f.name == "offset")) {
            if cx.mode == Mode::Const {
                self.not_const(span, "offsets are per packet");
                return None;
            }
            self.require_valid(cx, sel, span, false);
            return Some(Expr { kind: ExprKind::Offset(sel), ty: Ty::UInt(16), span });
        }
        let (idx, width) = self.field_index(header, name)?;
        if cx.mode == Mode::Const {
            self.not_const(span, "header fields are per packet");
            return None;
        }
        self.require_valid(cx, sel, span, false);
        Some(Expr { kind: ExprKind::Field { header: sel, field: idx }, ty: Ty::UInt(width), span })
    }

    /// The index and width of field `name` of `header` (E0204 when absent).
    pub(crate) fn field_index(&mut self, header: HeaderId, name: &Ident) -> Option<(u32, u32)> {
        let h = self.header(header)?;
        if let Some(i) = h.fields.iter().position(|f| f.name == name.name) {
            let w = h.fields.get(i)?.width;
            return Some((u32::try_from(i).ok()?, w));
        }
        let similar = super::closest(&name.name, h.fields.iter().map(|f| f.name.as_str())).map(str::to_string);
        let fields: Vec<String> = h.fields.iter().map(|f| format!("`{}`", f.name)).collect();
        let hname = h.name.clone();
        let hspan = h.span;
        self.emit(
            Diagnostic::error("nfl::E0204", format!("header `{hname}` has no field `{}`", name.name), name.span, "unknown field")
                .with_label(hspan, "header declared here")
                .with_help(match similar {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("its fields are {}, plus `.valid`", fields.join(", ")),
                }),
        );
        None
    }

    /// Check that reading (or writing) a field of `sel` is allowed here:
    /// E0502 in the control, E0408 in a parser.
    pub(crate) fn require_valid(&mut self, cx: &mut Cx, sel: HdrSel, span: Span, write: bool) {
        let verb = if write { "written" } else { "read" };
        match (cx.mode, sel) {
            (Mode::Control, HdrSel::Fixed(r)) if cx.action.is_some() || cx.deferred => {
                if !cx.valid.contains(&r) {
                    cx.requires.push((r, span, write));
                }
            }
            (Mode::Control, HdrSel::Fixed(r)) => {
                if !cx.valid.contains(&r) {
                    let n = self.ref_name(r);
                    self.emit(
                        Diagnostic::error(
                            "nfl::E0502",
                            format!("header `{n}` may not be valid here"),
                            span,
                            format!("field {verb} without a validity check"),
                        )
                        .with_help(format!(
                            "guard it: `if {n}.valid {{ ... }}`, or leave early: `if !{n}.valid {{ pass }}`"
                        )),
                    );
                }
            }
            (Mode::Parser, _) => {
                let (h, needed) = match sel {
                    HdrSel::Fixed(r) => (r.header, r.index.saturating_add(1)),
                    HdrSel::Last(h) => (h, 1),
                };
                let have = cx.extracted.get(h.index()).copied().unwrap_or(0);
                if have < needed {
                    let n = self.sel_name(sel);
                    let hn = self.header(h).map(|x| x.name.clone()).unwrap_or_default();
                    self.emit(
                        Diagnostic::error(
                            "nfl::E0408",
                            format!("header `{n}` is not extracted on every path to this point"),
                            span,
                            "field read before a definite extract",
                        )
                        .with_help(format!("`extract {hn}` earlier in this state, or in every state that leads here")),
                    );
                }
            }
            // `.last` in the control is E0315, reported where it is resolved.
            (Mode::Control, HdrSel::Last(_)) | (Mode::Const, _) => {}
        }
    }

    /// Resolve an expression naming a header instance: `ipv4`, `vlan[1]`,
    /// `vlan.last`.
    pub(crate) fn header_sel(&mut self, cx: &mut Cx, e: &ast::Expr) -> Option<HdrSel> {
        match &e.kind {
            AK::Name(id) => {
                let (h, stack) = self.header_named(cx, id)?;
                if stack.is_some() {
                    self.emit(
                        Diagnostic::error("nfl::E0316", format!("header stack `{}` needs an index", id.name), id.span, "a stack")
                            .with_help(format!("name one element: `{0}[0]`, or `{0}.last` in a parser", id.name)),
                    );
                    return None;
                }
                Some(HdrSel::Fixed(HeaderRef { header: h, index: 0 }))
            }
            AK::Index { base, index } => {
                let AK::Name(id) = &base.kind else {
                    self.emit(
                        Diagnostic::error("nfl::E0316", "only a header stack can be indexed", base.span, "not a stack name")
                            .with_help("index a stack by its name: `vlan[0]`"),
                    );
                    return None;
                };
                let (h, stack) = self.header_named(cx, id)?;
                let Some(n) = stack else {
                    self.emit(
                        Diagnostic::error("nfl::E0316", format!("`{}` is not a header stack", id.name), e.span, "indexed here")
                            .with_help(format!("only stacks (`header {}[N] {{ ... }}`) have elements; drop the index", id.name)),
                    );
                    return None;
                };
                let i = self.stack_index(cx, index, n)?;
                Some(HdrSel::Fixed(HeaderRef { header: h, index: i }))
            }
            AK::Field { base, name } if name.name == "last" => {
                let AK::Name(id) = &base.kind else {
                    self.emit(
                        Diagnostic::error("nfl::E0316", "`.last` applies to a header stack", base.span, "not a stack name")
                            .with_help("write `STACK.last.FIELD`, e.g. `vlan.last.ethertype`"),
                    );
                    return None;
                };
                let (h, stack) = self.header_named(cx, id)?;
                if stack.is_none() {
                    self.emit(
                        Diagnostic::error("nfl::E0316", format!("`{}` is not a header stack", id.name), e.span, "`.last` needs a stack")
                            .with_help(format!("use `{}` directly", id.name)),
                    );
                    return None;
                }
                if cx.mode != Mode::Parser {
                    self.emit(
                        Diagnostic::error("nfl::E0315", "`.last` is only available in a parser", e.span, "outside a parser")
                            .with_help(format!("name the element explicitly: `{}[0]`", id.name)),
                    );
                    return None;
                }
                Some(HdrSel::Last(h))
            }
            _ => {
                self.emit(
                    Diagnostic::error("nfl::E0207", "expected a header", e.span, "this has no fields")
                        .with_help("fields belong to headers (`ipv4.ttl`), stack elements (`vlan[0].vid`), `meta` and `pkt`"),
                );
                None
            }
        }
    }

    /// The header a name refers to, with its stack size.
    fn header_named(&mut self, cx: &Cx, id: &Ident) -> Option<(HeaderId, Option<u32>)> {
        if let Some((_, ty)) = cx.local(&id.name) {
            self.emit(
                Diagnostic::error("nfl::E0207", format!("`{}` is a local of type `{}`", id.name, ty_str(ty)), id.span, "not a header")
                    .with_help("only headers, `meta` and `pkt` have fields"),
            );
            return None;
        }
        match self.globals.get(&id.name).copied() {
            Some((Global::Header(h), _)) => Some((h, self.header(h)?.stack)),
            Some((g, decl)) => {
                self.emit(
                    Diagnostic::error("nfl::E0207", format!("`{}` is a {}, not a header", id.name, g.describe()), id.span, "not a header")
                        .with_label(decl, "declared here")
                        .with_help("only headers, `meta` and `pkt` have fields"),
                );
                None
            }
            None => {
                self.unknown_name(id);
                None
            }
        }
    }

    /// A constant stack index below `n` (E0314).
    fn stack_index(&mut self, cx: &mut Cx, index: &ast::Expr, n: u32) -> Option<u32> {
        let saved = cx.mode;
        cx.mode = Mode::Const;
        let quiet_before = self.diags.len();
        let lowered = if self.is_untyped(index) { self.expr(cx, index, Some(Ty::UInt(64))) } else { self.expr(cx, index, None) };
        cx.mode = saved;
        // A non-constant index is E0314 rather than the generic E0310.
        let mut non_const = false;
        let tail: Vec<Diagnostic> = self.diags.drain(quiet_before..).collect();
        for d in tail {
            if d.code == "nfl::E0310" {
                non_const = true;
            } else {
                self.diags.push(d);
            }
        }
        let value = lowered.as_ref().and_then(eval);
        let Some(v) = value else {
            if non_const || lowered.is_some() {
                self.emit(
                    Diagnostic::error("nfl::E0314", "a stack index must be a constant", index.span, "not a constant")
                        .with_help("index with a literal or a constant (`vlan[0]`); in a parser, `H.last` names the newest element"),
                );
            }
            return None;
        };
        if let Some(l) = &lowered
            && l.ty == Ty::Bool
        {
            self.emit(
                Diagnostic::error("nfl::E0306", "a stack index must be an integer", index.span, "this is `bool`")
                    .with_help("index with an integer constant"),
            );
            return None;
        }
        if v >= u64::from(n) {
            self.emit(
                Diagnostic::error("nfl::E0314", format!("index {v} is out of range for a stack of {n}"), index.span, "out of range")
                    .with_help(format!("valid indices are 0 to {}", n.saturating_sub(1))),
            );
            return None;
        }
        u32::try_from(v).ok()
    }

    fn unary(&mut self, cx: &mut Cx, op: AUn, operand: &ast::Expr, expected: Option<Ty>, span: Span) -> Option<Expr> {
        match op {
            AUn::Not => {
                let inner = self.expr_as(cx, operand, Ty::Bool, Some("nfl::E0306"), "the operand of `!`")?;
                Some(Expr { kind: ExprKind::Unary { op: UnOp::Not, operand: Box::new(inner) }, ty: Ty::Bool, span })
            }
            AUn::BitNot | AUn::Neg => {
                let expected = match expected {
                    Some(Ty::UInt(w)) => Some(Ty::UInt(w)),
                    _ if self.is_untyped(operand) => Some(Ty::UInt(64)),
                    _ => None,
                };
                let inner = self.expr(cx, operand, expected)?;
                if inner.ty == Ty::Bool {
                    let sym = if op == AUn::Neg { "-" } else { "~" };
                    self.emit(
                        Diagnostic::error("nfl::E0306", format!("`{sym}` needs an integer, found `bool`"), inner.span, "this is `bool`")
                            .with_help("use `!` to negate a `bool`"),
                    );
                    return None;
                }
                let ty = inner.ty;
                Some(Expr { kind: ExprKind::Unary { op: op, operand: Box::new(inner) }, ty, span })
            }
        }
    }

    fn binary(
        &mut self,
        cx: &mut Cx,
        op: ABin,
        lhs: &ast::Expr,
        rhs: &ast::Expr,
        expected: Option<Ty>,
        span: Span,
    ) -> Option<Expr> {
        let hop = op;
        if op.is_logical() {
            let what = format!("an operand of `{}`", op.symbol());
            let l = self.expr_as(cx, lhs, Ty::Bool, Some("nfl::E0306"), &what);
            // Short-circuit: the right side runs only when the left side is
            // true (`&&`) or false (`||`), so it may rely on that.
            let saved = cx.valid.clone();
            if cx.mode == Mode::Control {
                let (t, f) = self.cond_facts(lhs, &cx.loop_vars);
                cx.valid.extend(if op == ABin::And { t } else { f });
            }
            let r = self.expr_as(cx, rhs, Ty::Bool, Some("nfl::E0306"), &what);
            cx.valid = saved;
            let (l, r) = (l?, r?);
            return Some(Expr { kind: ExprKind::Binary { op: hop, lhs: Box::new(l), rhs: Box::new(r) }, ty: Ty::Bool, span });
        }
        let operand_expected = if op.is_comparison() { None } else { expected };
        let (l, r) = self.operands(cx, op, lhs, rhs, operand_expected)?;
        let ty = if op.is_comparison() {
            if l.ty == Ty::Bool && !matches!(op, ABin::Eq | ABin::Ne) {
                self.emit(
                    Diagnostic::error("nfl::E0306", format!("`{}` compares integers, not `bool`", op.symbol()), span, "bool operands")
                        .with_help("only `==` and `!=` apply to `bool`"),
                );
                return None;
            }
            Ty::Bool
        } else {
            if l.ty == Ty::Bool {
                self.emit(
                    Diagnostic::error("nfl::E0306", format!("`{}` needs integers, found `bool`", op.symbol()), span, "bool operands")
                        .with_help("use `&&`, `||` and `!` for booleans"),
                );
                return None;
            }
            l.ty
        };
        Some(Expr { kind: ExprKind::Binary { op: hop, lhs: Box::new(l), rhs: Box::new(r) }, ty, span })
    }

    /// Lower two operands that must have the same type; an untyped side
    /// takes the other side's type.
    fn operands(
        &mut self,
        cx: &mut Cx,
        op: ABin,
        lhs: &ast::Expr,
        rhs: &ast::Expr,
        expected: Option<Ty>,
    ) -> Option<(Expr, Expr)> {
        let lu = self.is_untyped(lhs);
        let ru = self.is_untyped(rhs);
        let (l, r) = match (lu, ru) {
            (true, true) => {
                let t = match expected {
                    Some(Ty::UInt(w)) => Ty::UInt(w),
                    _ => Ty::UInt(64),
                };
                (self.expr(cx, lhs, Some(t)), self.expr(cx, rhs, Some(t)))
            }
            (false, true) => {
                let l = self.expr(cx, lhs, None);
                let t = l.as_ref().map(|l| l.ty);
                match t {
                    Some(Ty::Bool) if !matches!(op, ABin::Eq | ABin::Ne) => {
                        self.bool_operand(op, lhs.span);
                        return None;
                    }
                    Some(t) => (l, self.expr(cx, rhs, Some(t))),
                    None => (l, None),
                }
            }
            (true, false) => {
                let r = self.expr(cx, rhs, None);
                let t = r.as_ref().map(|r| r.ty);
                match t {
                    Some(Ty::Bool) if !matches!(op, ABin::Eq | ABin::Ne) => {
                        self.bool_operand(op, rhs.span);
                        return None;
                    }
                    Some(t) => (self.expr(cx, lhs, Some(t)), r),
                    None => (None, r),
                }
            }
            (false, false) => (self.expr(cx, lhs, None), self.expr(cx, rhs, None)),
        };
        let (l, r) = (l?, r?);
        if l.ty != r.ty {
            let (code, help) = if l.ty == Ty::Bool || r.ty == Ty::Bool {
                ("nfl::E0306", "a `bool` and an integer cannot be mixed; compare the integer (`x != 0`) or cast the bool (`b as u8`)".to_string())
            } else {
                let (narrow, wide) = if l.ty.width() < r.ty.width() { (&l, r.ty) } else { (&r, l.ty) };
                let s = self.snippet(narrow.span).unwrap_or_else(|| "EXPR".to_string());
                ("nfl::E0304", format!("widths never convert implicitly; widen the narrower side: `({s}) as {}`", ty_str(wide)))
            };
            self.emit(
                Diagnostic::error(
                    code,
                    format!("mismatched operand types for `{}`: `{}` and `{}`", op.symbol(), ty_str(l.ty), ty_str(r.ty)),
                    l.span,
                    format!("`{}`", ty_str(l.ty)),
                )
                .with_label(r.span, format!("`{}`", ty_str(r.ty)))
                .with_help(help),
            );
            return None;
        }
        Some((l, r))
    }

    fn bool_operand(&mut self, op: ABin, span: Span) {
        let help = if op.is_comparison() { "only `==` and `!=` apply to `bool`" } else { "use `&&`, `||` and `!` for booleans, or cast: `b as u8`" };
        self.emit(
            Diagnostic::error("nfl::E0306", format!("`{}` needs integers, found `bool`", op.symbol()), span, "this is `bool`").with_help(help),
        );
    }

    /// Header instances known valid when `e` is true, and when it is false.
    /// Works on the AST without reporting anything (lowering reports).
    pub(crate) fn cond_facts(&self, e: &ast::Expr, loop_vars: &[(String, u64)]) -> (HashSet<HeaderRef>, HashSet<HeaderRef>) {
        match &e.kind {
            AK::Field { base, name } if name.name == "valid" => {
                let mut t = HashSet::new();
                if let Some(r) = self.quiet_ref(base, loop_vars) {
                    t.insert(r);
                    t.extend(self.implied.get(&r).into_iter().flatten().copied());
                }
                (t, HashSet::new())
            }
            AK::Unary { op: AUn::Not, operand } => {
                let (t, f) = self.cond_facts(operand, loop_vars);
                (f, t)
            }
            AK::Binary { op: ABin::And, lhs, rhs } => {
                let (ta, fa) = self.cond_facts(lhs, loop_vars);
                let (tb, fb) = self.cond_facts(rhs, loop_vars);
                // False: either `a` was false, or `a` held and `b` was false.
                let a_then_fb: HashSet<HeaderRef> = ta.union(&fb).copied().collect();
                let f = fa.intersection(&a_then_fb).copied().collect();
                (ta.union(&tb).copied().collect(), f)
            }
            AK::Binary { op: ABin::Or, lhs, rhs } => {
                let (ta, fa) = self.cond_facts(lhs, loop_vars);
                let (tb, fb) = self.cond_facts(rhs, loop_vars);
                let a_else_tb: HashSet<HeaderRef> = fa.union(&tb).copied().collect();
                let t = ta.intersection(&a_else_tb).copied().collect();
                (t, fa.union(&fb).copied().collect())
            }
            _ => (HashSet::new(), HashSet::new()),
        }
    }

    /// The instance `e` names, if it is plainly a header or a constant-index
    /// stack element. Locals cannot shadow headers, so no scope is needed.
    fn quiet_ref(&self, e: &ast::Expr, loop_vars: &[(String, u64)]) -> Option<HeaderRef> {
        match &e.kind {
            AK::Name(id) => match self.globals.get(&id.name) {
                Some((Global::Header(h), _)) if self.header(*h)?.stack.is_none() => Some(HeaderRef { header: *h, index: 0 }),
                _ => None,
            },
            AK::Index { base, index } => {
                let AK::Name(id) = &base.kind else { return None };
                let Some((Global::Header(h), _)) = self.globals.get(&id.name) else { return None };
                let n = self.header(*h)?.stack?;
                let i = match &index.kind {
                    AK::Int(v) => *v,
                    AK::Name(c) if loop_vars.iter().any(|(n, _)| *n == c.name) => {
                        loop_vars.iter().rev().find(|(n, _)| *n == c.name).map(|(_, v)| *v)?
                    }
                    AK::Name(c) => match self.globals.get(&c.name) {
                        Some((Global::Const(ci), _)) => match self.consts.get(*ci)?.state {
                            ConstState::Done(Some(cv)) => cv.value,
                            _ => return None,
                        },
                        _ => return None,
                    },
                    _ => return None,
                };
                (i < u64::from(n)).then_some(HeaderRef { header: *h, index: i as u32 })
            }
            _ => None,
        }
    }
}
