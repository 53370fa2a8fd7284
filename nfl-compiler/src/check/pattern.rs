//! Pattern checking and normalisation against a key of width `w`:
//! values, masks and ranges must fit (E0311), a mask must cover its value
//! (E0311), prefixes must not be longer than the key (E0312). Output values
//! are truncated to the key width; `LO..HI` becomes `LO..=HI-1` (`X..0` is
//! the empty `Range { lo: 1, hi: 0 }`); `ADDR/LEN` becomes a mask.

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::{self, Span};

use super::eval::eval;
use super::expr::{Cx, Mode};
use super::{Checker, fits, ones, ty_str};
use crate::hir::{Pattern, Ty};

impl Checker<'_> {
    pub(crate) fn pattern(&mut self, cx: &mut Cx, p: &ast::Pattern, w: u32) -> Option<Pattern> {
        match p {
            ast::Pattern::Wildcard(_) => Some(Pattern::Any),
            ast::Pattern::Value(e) if self.is_config_set(e) => {
                let ast::ExprKind::Field { name, .. } = &e.kind else { return None };
                self.config_set(name, w, e.span)
            }
            ast::Pattern::Value(e) => {
                let v = self.pattern_value(cx, e, w, false)?;
                Some(Pattern::Value(v))
            }
            ast::Pattern::Mask { value, mask, span } => {
                let v = self.pattern_value(cx, value, w, false);
                let m = self.pattern_value(cx, mask, w, false);
                let (v, m) = (v?, m?);
                if v & !m != 0 {
                    self.emit(
                        Diagnostic::error("nfl::E0311", "the value has bits outside the mask", *span, format!("{v:#x} &&& {m:#x}"))
                            .with_help(format!("those bits can never match; clear them: `{:#x} &&& {m:#x}`", v & m)),
                    );
                    return None;
                }
                Some(Pattern::Mask { value: v, mask: m })
            }
            ast::Pattern::Range { lo, hi, inclusive, .. } => {
                let l = self.pattern_value(cx, lo, w, false);
                let h = self.pattern_value(cx, hi, w, !inclusive);
                let (l, h) = (l?, h?);
                if *inclusive {
                    Some(Pattern::Range { lo: l, hi: h })
                } else if h == 0 {
                    Some(Pattern::Range { lo: 1, hi: 0 })
                } else {
                    Some(Pattern::Range { lo: l, hi: h - 1 })
                }
            }
            ast::Pattern::Prefix { addr, len, len_span, .. } => {
                let a = self.pattern_value(cx, addr, w, false);
                if *len > w {
                    self.emit(
                        Diagnostic::error("nfl::E0312", format!("prefix length {len} is longer than the key"), *len_span, format!("the key is `u{w}`"))
                            .with_help(format!("use a length from 0 to {w}")),
                    );
                    return None;
                }
                let a = a?;
                let mask = ones(w) & !ones(w).checked_shr(*len).unwrap_or(0);
                Some(Pattern::Mask { value: a & mask, mask })
            }
            ast::Pattern::Set { items, .. } => {
                let mut out = Vec::new();
                let mut ok = true;
                for item in items {
                    match self.pattern(cx, item, w) {
                        Some(p) => out.push(p),
                        None => ok = false,
                    }
                }
                ok.then_some(Pattern::Set(out))
            }
        }
    }

    /// A constant pattern operand for a `u{w}` key. `end_exclusive` allows
    /// the value `2^w` (the end of an exclusive range covering the top).
    fn pattern_value(&mut self, cx: &mut Cx, e: &ast::Expr, w: u32, end_exclusive: bool) -> Option<u64> {
        let saved = cx.mode;
        cx.mode = Mode::Const;
        let untyped = self.is_untyped(e);
        let lowered = if untyped { self.expr(cx, e, Some(Ty::UInt(64))) } else { self.expr(cx, e, None) };
        cx.mode = saved;
        let lowered = lowered?;
        if !untyped && lowered.ty != Ty::UInt(w) {
            let (code, help) = match lowered.ty {
                Ty::Bool => ("nfl::E0306", "patterns are unsigned integers".to_string()),
                Ty::UInt(_) => {
                    let s = self.snippet(e.span).unwrap_or_else(|| "EXPR".to_string());
                    ("nfl::E0304", format!("cast it to the key's width: `({s}) as u{w}`"))
                }
            };
            self.emit(
                Diagnostic::error(code, format!("pattern is `{}` but the key is `u{w}`", ty_str(lowered.ty)), e.span, format!("`{}`", ty_str(lowered.ty)))
                    .with_help(help),
            );
            return None;
        }
        let Some(v) = eval(&lowered) else {
            self.emit(
                Diagnostic::error("nfl::E0310", "a pattern must be a constant", e.span, "not a constant")
                    .with_help("use literals and constants in patterns; compare run-time values with `==`"),
            );
            return None;
        };
        let fits_here = fits(v, w) || (end_exclusive && w < 64 && v == ones(w) + 1);
        if !fits_here {
            self.out_of_width(e.span, v, w);
            return None;
        }
        Some(v)
    }

    fn out_of_width(&mut self, span: Span, v: u64, w: u32) {
        self.emit(
            Diagnostic::error("nfl::E0311", format!("pattern value {v} does not fit the key's width `u{w}`"), span, "too large")
                .with_help(format!("the largest `u{w}` is {}; this case could never match", ones(w))),
        );
    }
}
