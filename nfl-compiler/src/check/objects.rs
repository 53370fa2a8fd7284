//! Meters and pools (E0337–E0339), their methods, and `let ... else`.
//!
//! - `meter NAME: token_bucket(rate = R, burst = B[, size = N]) [keyed K]`:
//!   `NAME.take(n)` is true when `n` tokens were available. `K` is checked
//!   like a table key: typed once, its headers required valid at each call.
//! - `pool NAME: ports(first = A, last = B)`: `let p = NAME.take() else {..}`
//!   and `NAME.give(p)`.
//! - `let v = M.get(k) else { .. }` binds a map entry's value when present.
//!   The `else` block must end the program.

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::{self, ExprKind as AK, Ident, ObjectKind, Span};

use super::expr::{Cx, Mode};
use super::{Checker, Global};
use crate::hir::{self, ExprKind, HeaderRef, MeterHir, MeterId, Optional, PoolHir, PoolId, StateMapId, Ty};

/// Default number of buckets of a keyed meter.
pub const DEFAULT_METER_SIZE: u32 = 65536;
/// The most values a pool may hold.
pub const MAX_POOL: u64 = 1 << 20;

/// The header requirements of an object's declared key.
pub(crate) struct KeySig {
    pub requires: Vec<(HeaderRef, Span, bool)>,
}

impl<'a> Checker<'a> {
    pub(crate) fn collect_object(&mut self, o: &'a ast::ObjectDecl) {
        // Meters and pools are numbered separately (their HIR tables).
        let maglev = super::maglev::is_maglev(o);
        let idx = self.object_decls.iter().filter(|d| d.kind == o.kind && super::maglev::is_maglev(d) == maglev).count();
        self.object_decls.push(o);
        let g = match o.kind {
            ObjectKind::Meter => Global::Meter(idx),
            ObjectKind::Pool if maglev => Global::Maglev(idx),
            ObjectKind::Pool => Global::Pool(idx),
            ObjectKind::Sketch => Global::Sketch(idx),
            ObjectKind::Queue => Global::Queue(idx),
        };
        self.declare(&o.name, g);
    }

    pub(super) fn named_const(&mut self, o: &ast::ObjectDecl, name: &str, required: bool) -> Option<u64> {
        let Some(arg) = o.args.iter().find(|a| a.name.name == name) else {
            if required {
                self.emit(
                    Diagnostic::error("nfl::E0337", format!("`{}` needs `{name} = ...`", o.ctor.name), o.ctor.span, format!("no `{name}`"))
                        .with_help(format!("give it: `{}({name} = VALUE, ...)`", o.ctor.name)),
                );
            }
            return None;
        };
        let mut cx = Cx::new(Mode::Const);
        let e = self.expr_as(&mut cx, &arg.value, Ty::UInt(64), None, &format!("`{name}`"))?;
        super::eval::eval(&e)
    }

    pub(super) fn check_args(&mut self, o: &ast::ObjectDecl, allowed: &[&str]) {
        for a in &o.args {
            if !allowed.contains(&a.name.name.as_str()) {
                self.emit(
                    Diagnostic::error("nfl::E0337", format!("`{}` has no argument `{}`", o.ctor.name, a.name.name), a.name.span, "unknown argument")
                        .with_help(format!("its arguments are: {}", allowed.join(", "))),
                );
            }
        }
    }

    fn expect_ctor(&mut self, o: &ast::ObjectDecl, want: &str) -> bool {
        if o.ctor.name == want {
            return true;
        }
        self.emit(
            Diagnostic::error("nfl::E0337", format!("unknown {} kind `{}`", o.kind.keyword(), o.ctor.name), o.ctor.span, "unknown kind")
                .with_help(format!("a {} is declared as `{}`", o.kind.keyword(), match o.kind {
                    ObjectKind::Meter => "meter NAME: token_bucket(rate = R, burst = B) keyed KEY",
                    ObjectKind::Pool => "pool NAME: ports(first = A, last = B), or pool NAME: maglev(groups = G) of u32",
                    ObjectKind::Sketch => "sketch NAME: count_min(eps = E, delta = D) keyed KEY",
                    ObjectKind::Queue => "queue NAME: fifo(size = N) of TYPE",
                })),
        );
        false
    }

    /// Type every meter and pool (after config values are known).
    pub(crate) fn lower_objects(&mut self, pools: Option<&std::collections::BTreeMap<String, crate::config::PoolGroups>>) {
        let none = std::collections::BTreeMap::new();
        let pools = pools.unwrap_or(&none);
        for i in 0..self.object_decls.len() {
            let o = self.object_decls[i];
            if super::maglev::is_maglev(o) {
                self.lower_maglev(o, pools);
                continue;
            }
            if let (Some(t), false) = (&o.elem, o.kind == ObjectKind::Queue) {
                self.emit(
                    Diagnostic::error("nfl::E0343", format!("a {} has no element type", o.kind.keyword()), t.span, "`of` here")
                        .with_help("only a `queue` takes `of TYPE`; remove it"),
                );
            }
            if let (Some(p), false) = (&o.per, o.kind == ObjectKind::Sketch) {
                let span = p.first().map_or(o.span, |e| e.span);
                self.emit(
                    Diagnostic::error("nfl::E0337", format!("a {} is not kept per key", o.kind.keyword()), span, "`per` here")
                        .with_help("`keyed K per P` keeps one HyperLogLog per value of P; remove `per ...`"),
                );
            }
            match o.kind {
                ObjectKind::Meter => self.lower_meter(o),
                ObjectKind::Pool => self.lower_pool(o),
                ObjectKind::Sketch => self.lower_sketch(o),
                ObjectKind::Queue => self.lower_queue(o),
            }
        }
    }

    fn lower_meter(&mut self, o: &'a ast::ObjectDecl) {
        let ok = self.expect_ctor(o, "token_bucket");
        self.check_args(o, &["rate", "burst", "size"]);
        let rate = self.named_const(o, "rate", true);
        let burst = self.named_const(o, "burst", true);
        let size = self.named_const(o, "size", false).unwrap_or(u64::from(DEFAULT_METER_SIZE));
        let mut cx = Cx::new(Mode::Control);
        cx.deferred = true;
        let key = self.object_key(&mut cx, o, "meter");
        let check = |this: &mut Self, v: Option<u64>, what: &str, max: u64| match v {
            Some(v) if v >= 1 && v <= max => Some(v),
            Some(v) => {
                this.emit(
                    Diagnostic::error("nfl::E0338", format!("a meter's {what} must be from 1 to {max}"), o.span, format!("{what} = {v}"))
                        .with_help("rates are tokens per second; the burst is the bucket depth in tokens"),
                );
                None
            }
            None => None,
        };
        let rate = check(self, rate, "rate", 1_000_000_000_000);
        let burst = check(self, burst, "burst", 1_000_000_000);
        let size = check(self, Some(size), "size", 1 << 24);
        self.meter_sigs.push(KeySig { requires: std::mem::take(&mut cx.requires) });
        if let (true, Some(rate), Some(burst), Some(size)) = (ok, rate, burst, size) {
            self.explain.push(format!(
                "meter {}: token bucket, {rate} tokens/s, burst {burst}, {} bucket(s) in an LRU hash",
                o.name.name,
                if key.is_empty() { 1 } else { size }
            ));
            self.meters.push(MeterHir { name: o.name.name.clone(), rate, burst, size: size as u32, key, span: o.span });
        } else {
            // Errors are reported; keep ids aligned.
            self.meters.push(MeterHir { name: o.name.name.clone(), rate: 1, burst: 1, size: 1, key, span: o.span });
        }
    }

    /// Type an object's `keyed` expressions (integers) in `cx`.
    pub(super) fn object_key(&mut self, cx: &mut Cx, o: &ast::ObjectDecl, what: &str) -> Vec<hir::Expr> {
        self.typed_key(cx, o.keyed.as_deref().unwrap_or(&[]), what)
    }

    /// Type key expressions (integers) in `cx`.
    pub(super) fn typed_key(&mut self, cx: &mut Cx, exprs: &[ast::Expr], what: &str) -> Vec<hir::Expr> {
        let mut key = Vec::new();
        for e in exprs {
            match self.expr(cx, e, None) {
                Some(x) if matches!(x.ty, Ty::UInt(_)) => key.push(x),
                Some(_) => self.emit(
                    Diagnostic::error("nfl::E0306", format!("a {what} key must be an integer"), e.span, "`bool`")
                        .with_help(format!("key the {what} by packet fields or metadata")),
                ),
                None => {}
            }
        }
        key
    }

    fn lower_pool(&mut self, o: &'a ast::ObjectDecl) {
        let ok = self.expect_ctor(o, "ports");
        self.check_args(o, &["first", "last"]);
        let first = self.named_const(o, "first", true);
        let last = self.named_const(o, "last", true);
        if let Some(k) = &o.keyed {
            let span = k.first().map_or(o.span, |e| e.span);
            self.emit(Diagnostic::error("nfl::E0337", "a pool is not keyed", span, "`keyed` here").with_help("remove `keyed ...`; one pool serves all packets"));
        }
        let valid = match (first, last) {
            (Some(a), Some(b)) if a <= b && b - a < MAX_POOL && b <= u64::from(u32::MAX) => true,
            (Some(a), Some(b)) => {
                self.emit(
                    Diagnostic::error("nfl::E0338", format!("a pool holds `first..=last` with at most {MAX_POOL} values"), o.span, format!("{a}..={b}"))
                        .with_help("check the bounds: `first` ≤ `last`, both 32-bit"),
                );
                false
            }
            _ => false,
        };
        let (first, last) = (first.unwrap_or(0), last.unwrap_or(0));
        let ty = if last <= 0xffff { Ty::UInt(16) } else { Ty::UInt(32) };
        if ok && valid {
            self.explain.push(format!("pool {}: {} free values {first}..={last} in a queue map (safe across CPUs)", o.name.name, last - first + 1));
        }
        self.pools.push(PoolHir { name: o.name.name.clone(), first, last, ty, span: o.span });
    }

    /// `M.take(n)` on a meter, as a value.
    pub(crate) fn meter_take(&mut self, cx: &mut Cx, m: usize, name: &str, args: &[ast::Expr], span: Span) -> Option<hir::Expr> {
        let [n] = args else {
            self.emit(
                Diagnostic::error("nfl::E0308", "`take` takes one argument: the tokens to take", span, "wrong number of arguments")
                    .with_help(format!("`{name}.take(1)` per packet, or `{name}.take(pkt.len)` per byte")),
            );
            return None;
        };
        let amount = self.expr(cx, n, Some(Ty::UInt(64)))?;
        let amount = match amount.ty {
            Ty::UInt(64) => amount,
            Ty::UInt(_) => hir::Expr { span: amount.span, ty: Ty::UInt(64), kind: ExprKind::Cast(Box::new(amount)) },
            Ty::Bool => {
                self.emit(Diagnostic::error("nfl::E0306", "the tokens to take are an integer", n.span, "`bool`").with_help("take a count: `take(1)`"));
                return None;
            }
        };
        let requires = self.meter_sigs.get(m).map(|s| s.requires.clone()).unwrap_or_default();
        self.require_all(cx, requires, &format!("meter `{name}` is used"), span);
        Some(hir::Expr { kind: ExprKind::MeterTake { meter: MeterId(m as u32), amount: Box::new(amount) }, ty: Ty::Bool, span })
    }

    /// `P.give(v)` as a statement.
    pub(crate) fn pool_give(&mut self, cx: &mut Cx, p: usize, args: &[ast::Expr], span: Span) -> Option<hir::Stmt> {
        let ty = self.pools.get(p)?.ty;
        let [v] = args else {
            self.emit(Diagnostic::error("nfl::E0308", "`give` takes the value to return", span, "wrong number of arguments").with_help("`pool.give(p)`"));
            return None;
        };
        let value = self.expr_as(cx, v, ty, None, "the value given back")?;
        Some(hir::Stmt::PoolGive { pool: PoolId(p as u32), value, span })
    }

    /// `let NAME[: T] = OPTIONAL else { ... }`
    pub(crate) fn let_else(&mut self, cx: &mut Cx, name: &Ident, ty: Option<&ast::TypeRef>, value: &ast::Expr, else_block: &ast::Block, span: Span) -> Option<hir::Stmt> {
        let (opt, vty) = self.optional(cx, value)?;
        let before = cx.valid.clone();
        let (else_b, diverges) = self.block(cx, else_block);
        cx.valid = before;
        if !diverges {
            self.emit(
                Diagnostic::error("nfl::E0339", "the `else` block of `let ... else` must end the program", else_block.span, "can fall through")
                    .with_help("end it with a verdict (`drop`, `pass`, ...): there is no value to bind when it runs"),
            );
        }
        if let Some(t) = ty {
            let want = self.ty_of(t);
            if want != vty {
                self.emit(
                    Diagnostic::error("nfl::E0304", format!("`{}` is `{}`, not `{}`", name.name, super::ty_str(vty), super::ty_str(want)), t.span, "wrong type")
                        .with_help("drop the annotation or cast afterwards"),
                );
            }
        }
        let clash = self.local_clashes(name);
        let local = self.new_local(&name.name, vty);
        if !clash {
            cx.scope.push((name.name.clone(), local, vty));
        }
        diverges.then_some(hir::Stmt::LetElse { local, value: opt, else_block: else_b, span })
    }

    fn optional(&mut self, cx: &mut Cx, value: &ast::Expr) -> Option<(Optional, Ty)> {
        if let AK::MethodCall { receiver, method, args } = &value.kind
            && let AK::Name(id) = &receiver.kind
        {
            match (self.globals.get(&id.name).map(|g| g.0), method.name.as_str()) {
                (Some(Global::Map(m)), "get") => {
                    let key = self.map_key(cx, m, args, method.span)?;
                    let ty = self.maps.get(m)?.value;
                    return Some((Optional::MapGet { map: StateMapId(m as u32), key }, ty));
                }
                (Some(Global::Pool(p)), "take") => {
                    if let Some(a) = args.first() {
                        self.emit(Diagnostic::error("nfl::E0308", "`take` takes no arguments", a.span, "unexpected").with_help("`let p = pool.take() else { drop }`"));
                    }
                    let ty = self.pools.get(p)?.ty;
                    return Some((Optional::PoolTake(PoolId(p as u32)), ty));
                }
                (Some(Global::Maglev(p)), _) => return self.maglev_pick(cx, p, method, args),
                (Some(Global::Queue(q)), _) => {
                    let name = id.name.clone();
                    return self.queue_optional(cx, q, &name, method, args);
                }
                _ => {}
            }
        }
        self.emit(
            Diagnostic::error("nfl::E0339", "`let ... else` needs a value that may be absent", value.span, "always present")
                .with_help("use it with `m.get(k)` or `pool.take()`; otherwise write a plain `let`"),
        );
        None
    }

    /// Header requirements of using a table or meter: deferred inside an
    /// action or a key, reported (E0502) in the control.
    pub(crate) fn require_all(&mut self, cx: &mut Cx, requires: Vec<(HeaderRef, Span, bool)>, what: &str, span: Span) {
        if cx.action.is_some() || cx.deferred {
            for (r, s, w) in requires {
                if !cx.valid.contains(&r) {
                    cx.requires.push((r, s, w));
                }
            }
            return;
        }
        let mut reported = std::collections::HashSet::new();
        for (r, use_span, _) in requires {
            if cx.valid.contains(&r) || !reported.insert(r) {
                continue;
            }
            let n = self.ref_name(r);
            self.emit(
                Diagnostic::error("nfl::E0502", format!("header `{n}` may not be valid when {what}"), span, format!("`{n}` is not known valid here"))
                    .with_label(use_span, format!("`{n}` is used here"))
                    .with_help(format!("do it inside `if {n}.valid {{ ... }}`")),
            );
        }
    }
}
