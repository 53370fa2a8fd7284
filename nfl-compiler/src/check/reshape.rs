//! Header methods: `set_valid`, `set_invalid`, `push`, `pop` (the packet
//! changes shape, E0504–E0506) and `update_checksum` (E0507).
//!
//! Validity: `H.set_valid()` makes `H` known valid, `H.set_invalid()` known
//! not valid; `S.push()` makes `S[0]` valid and moves what is known of
//! `S[i]` to `S[i+1]`, `S.pop()` the other way. A header the parser never
//! extracts may be inserted only where it is not already valid on any path
//! (`Cx::inserted`). Once a program reshapes, "`tcp.valid` implies
//! `ipv4.valid`" no longer holds, so the parser's implications are not used
//! ([`reshapes`]).

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::{self, ExprKind as AK, Ident, Span};

use super::expr::Cx;
use super::Checker;
use crate::hir::{self, ChecksumKind, HeaderId, HeaderInfo, HeaderRef, Reshape};

/// The methods headers have.
pub(crate) const HEADER_METHODS: &str = "`set_valid()`, `set_invalid()`, `update_checksum()`; stacks: `push()`, `pop()`";

/// Does any control reshape the packet? (Actions may not; E0506.)
pub(crate) fn reshapes(controls: &[&ast::ControlDecl]) -> bool {
    controls.iter().any(|c| block_reshapes(&c.body))
}

fn block_reshapes(b: &ast::Block) -> bool {
    b.stmts.iter().any(|s| match s {
        ast::Stmt::Expr { expr, .. } => {
            matches!(&expr.kind, AK::MethodCall { method, .. } if matches!(method.name.as_str(), "set_valid" | "set_invalid" | "push" | "pop"))
        }
        ast::Stmt::If { then_block, else_block, .. } => {
            block_reshapes(then_block)
                || match else_block {
                    Some(ast::ElseBranch::Block(e)) => block_reshapes(e),
                    Some(ast::ElseBranch::If(s)) => block_reshapes(&ast::Block { stmts: vec![(**s).clone()], span: s.span() }),
                    None => false,
                }
        }
        ast::Stmt::For { body, .. } => block_reshapes(body),
        ast::Stmt::Let { else_block: Some(e), .. } => block_reshapes(e),
        _ => false,
    })
}

/// The checksum a header's layout carries, if `update_checksum` knows it:
/// IPv4 (20 bytes, `checksum` at byte 10), TCP (20 bytes, at byte 16) and
/// UDP (8 bytes, at byte 6), whatever the header is called.
pub fn checksum_kind(h: &HeaderInfo) -> Option<ChecksumKind> {
    let at = h.fields.iter().find(|f| f.name == "checksum" && f.width == 16)?.bit_offset;
    match (h.byte_len, at) {
        (20, 80) => Some(ChecksumKind::Ipv4),
        (20, 128) => Some(ChecksumKind::Tcp),
        (8, 48) => Some(ChecksumKind::Udp),
        _ => None,
    }
}

impl Checker<'_> {
    /// `H.method(args)` as a statement, `H` a header or stack.
    pub(crate) fn header_method(&mut self, cx: &mut Cx, h: HeaderId, name: &str, method: &Ident, args: &[ast::Expr], span: Span) -> Option<hir::Stmt> {
        let (stack, info_name) = {
            let info = self.header(h)?;
            (info.stack, info.name.clone())
        };
        let m = method.name.as_str();
        if !matches!(m, "set_valid" | "set_invalid" | "push" | "pop" | "update_checksum") {
            self.no_method("header", name, method, HEADER_METHODS);
            return None;
        }
        self.no_args(method, args)?;
        let wrong = |this: &mut Self, msg: String, help: String| {
            this.emit(Diagnostic::error("nfl::E0504", msg, method.span, "not for this header").with_help(help));
        };
        match (m, stack) {
            ("push" | "pop", None) => {
                wrong(self, format!("`{m}` applies to header stacks; `{info_name}` is one header"), format!("use `{info_name}.set_valid()` / `{info_name}.set_invalid()`"));
                return None;
            }
            ("set_valid" | "set_invalid" | "update_checksum", Some(_)) => {
                wrong(self, format!("`{m}` applies to one header; `{info_name}` is a stack"), format!("use `{info_name}.push()` / `{info_name}.pop()`"));
                return None;
            }
            _ => {}
        }
        if m == "update_checksum" {
            return self.update_checksum(cx, h, &info_name, span);
        }
        if cx.action.is_some() {
            self.emit(
                Diagnostic::error("nfl::E0506", format!("`{m}` in an action"), span, "reshapes the packet")
                    .with_help("add and remove headers in the control block, where the validity of every header is followed"),
            );
            return None;
        }
        let r0 = HeaderRef { header: h, index: 0 };
        let op = match m {
            "set_valid" => {
                if self.layout.as_ref().is_some_and(|l| l.extracted.get(h.index()).copied().unwrap_or(false)) {
                    wrong(
                        self,
                        format!("`{info_name}` is extracted by the parser; `set_valid` inserts headers it never extracts"),
                        format!("declare a header of its own for the new copy (`header outer_{info_name} {{ ... }}`)"),
                    );
                    return None;
                }
                if cx.inserted.contains(&h) {
                    self.not_known(span, format!("`{info_name}` may already be valid here"), format!("it was made valid before on some path; insert it once (`{info_name}.set_valid()`)"));
                    return None;
                }
                // An insert goes right after the link layer: ahead of any
                // header inserted by an earlier resize. One declared before
                // it must be inserted in the same run, or the order breaks.
                let pos = |x: HeaderId| self.layout.as_ref().map_or(0, |l| l.pos(x));
                let ahead = cx.inserted.iter().copied().filter(|g| pos(*g) < pos(h) && !cx.insert_run.contains(g)).min_by_key(|g| pos(*g));
                if let Some(g) = ahead {
                    let g_name = self.headers.get(g.index()).map(|i| i.name.clone()).unwrap_or_default();
                    self.not_known(
                        span,
                        format!("`{info_name}` would be inserted ahead of `{g_name}`, which an earlier statement inserted"),
                        format!("insert them together, in consecutive statements and declaration order: `{g_name}.set_valid()` then `{info_name}.set_valid()`"),
                    );
                    return None;
                }
                cx.valid.insert(r0);
                cx.inserted.insert(h);
                cx.insert_run.insert(h);
                Reshape::SetValid(h)
            }
            "set_invalid" => {
                if !cx.valid.contains(&r0) {
                    self.not_known(span, format!("`{info_name}` is not known valid here"), format!("remove it where it is: `if {info_name}.valid {{ {info_name}.set_invalid() }}`"));
                    return None;
                }
                cx.valid.remove(&r0);
                cx.inserted.remove(&h);
                Reshape::SetInvalid(r0)
            }
            "push" => {
                self.shift_stack(cx, h, true);
                cx.valid.insert(r0);
                Reshape::Push(h)
            }
            _ => {
                if !cx.valid.contains(&r0) {
                    self.not_known(span, format!("`{info_name}[0]` is not known valid: the stack may be empty"), format!("pop where a tag is: `if {info_name}[0].valid {{ {info_name}.pop() }}`"));
                    return None;
                }
                self.shift_stack(cx, h, false);
                Reshape::Pop(h)
            }
        };
        Some(hir::Stmt::Reshape { op, span })
    }

    /// Move what is known valid of a stack's elements up (push) or down.
    fn shift_stack(&self, cx: &mut Cx, h: HeaderId, up: bool) {
        let n = self.header(h).and_then(|i| i.stack).unwrap_or(1);
        let known: Vec<u32> = (0..n).filter(|&i| cx.valid.remove(&HeaderRef { header: h, index: i })).collect();
        for i in known {
            let j = if up { i + 1 } else { i.wrapping_sub(1) };
            if j < n {
                cx.valid.insert(HeaderRef { header: h, index: j });
            }
        }
    }

    fn not_known(&mut self, span: Span, msg: String, help: String) {
        self.emit(Diagnostic::error("nfl::E0505", msg, span, "validity not known here").with_help(help));
    }

    fn update_checksum(&mut self, cx: &mut Cx, h: HeaderId, name: &str, span: Span) -> Option<hir::Stmt> {
        let Some(kind) = self.header(h).and_then(checksum_kind) else {
            self.emit(
                Diagnostic::error("nfl::E0507", format!("`{name}` has no checksum `update_checksum` knows"), span, "no known checksum")
                    .with_help("`update_checksum()` applies to IPv4 (20 bytes), TCP (20 bytes) and UDP (8 bytes) headers with a 16-bit `checksum` field at the usual place"),
            );
            return None;
        };
        let r = HeaderRef { header: h, index: 0 };
        self.require_valid(cx, hir::HdrSel::Fixed(r), span, true);
        Some(hir::Stmt::Checksum { header: r, kind, span })
    }
}
