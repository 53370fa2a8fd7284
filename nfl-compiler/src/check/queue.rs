//! Queues (E0343): declarations and methods.
//!
//! - `queue NAME: fifo(size = N) of T`: `push(v)`, `pop()`, `peek()`;
//! - `queue NAME: pqueue(size = N) of T`: `push(rank, v)` (rank `u64`),
//!   `pop_min()`, `peek()`: smallest rank first, equal ranks in push order;
//! - `queue NAME: wheel(slots = S, tick = D, size = N) of T`: `push(when, v)`
//!   (when: `u64` nanoseconds), `pop_due(now)`.
//!
//! `push` is a statement (a full queue drops the element) or a `bool`
//! value, true when the element went in. `pop`, `pop_min`, `peek` and
//! `pop_due` may find nothing, so they go in `let ... else`.

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::{self, Span};

use super::Checker;
use super::expr::Cx;
use crate::hir::{self, ExprKind, Optional, QueueHir, QueueId, QueueKind, Ty};

/// Most elements of a fifo (a queue map's `max_entries`).
pub const MAX_FIFO: u64 = 1 << 20;
/// Most elements of a pqueue or a wheel (one map value, sifted or scanned
/// under a spin lock).
pub const MAX_QUEUE: u64 = 1 << 16;
/// Most slots of a wheel: one 64-bit occupancy word.
pub const MAX_SLOTS: u64 = 64;

impl QueueKind {
    fn from_ctor(name: &str) -> Option<QueueKind> {
        Some(match name {
            "fifo" => QueueKind::Fifo,
            "pqueue" => QueueKind::Pqueue,
            "wheel" => QueueKind::Wheel,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            QueueKind::Fifo => "fifo",
            QueueKind::Pqueue => "pqueue",
            QueueKind::Wheel => "wheel",
        }
    }

    /// The methods of this kind, for help lines.
    fn methods(self) -> &'static str {
        match self {
            QueueKind::Fifo => "`push(v)`, and `pop()`, `peek()` in `let ... else`",
            QueueKind::Pqueue => "`push(rank, v)`, and `pop_min()`, `peek()` in `let ... else`",
            QueueKind::Wheel => "`push(when_ns, v)`, and `pop_due(now_ns)` in `let ... else`",
        }
    }
}

fn e0343(
    msg: impl Into<String>,
    span: Span,
    label: impl Into<String>,
    help: impl Into<String>,
) -> Diagnostic {
    Diagnostic::error("nfl::E0343", msg, span, label).with_help(help)
}

impl<'a> Checker<'a> {
    pub(super) fn lower_queue(&mut self, o: &'a ast::ObjectDecl) {
        let kind = QueueKind::from_ctor(&o.ctor.name);
        if kind.is_none() {
            self.emit(e0343(
                format!("unknown queue kind `{}`", o.ctor.name),
                o.ctor.span,
                "unknown kind",
                "a queue is `fifo(size = N)`, `pqueue(size = N)` or `wheel(slots = S, tick = 1ms, size = N)`, then `of TYPE`",
            ));
        }
        let kind = kind.unwrap_or(QueueKind::Fifo);
        let allowed: &[&str] = if kind == QueueKind::Wheel {
            &["slots", "tick", "size"]
        } else {
            &["size"]
        };
        self.check_args(o, allowed);
        if let Some(k) = &o.keyed {
            let span = k.first().map_or(o.span, |e| e.span);
            self.emit(e0343(
                "a queue is not keyed",
                span,
                "`keyed` here",
                "remove `keyed ...`; one queue serves all packets",
            ));
        }
        let elem = match &o.elem {
            None => {
                self.emit(e0343(
                    "a queue needs its element type",
                    o.span,
                    "no `of TYPE`",
                    format!(
                        "add it after the arguments: `queue {}: {}(...) of u32`",
                        o.name.name,
                        kind.name()
                    ),
                ));
                Ty::UInt(64)
            }
            Some(t) => match self.ty_of(t) {
                Ty::Bool => {
                    self.emit(e0343(
                        "a queue holds integers",
                        t.span,
                        "`bool`",
                        "use `u1`..`u64` (`u8` for a flag)",
                    ));
                    Ty::UInt(8)
                }
                ty => ty,
            },
        };
        let max = if kind == QueueKind::Fifo {
            MAX_FIFO
        } else {
            MAX_QUEUE
        };
        let size = self.named_const(o, "size", true).unwrap_or(1);
        let size = if (1..=max).contains(&size) {
            size as u32
        } else {
            self.emit(e0343(
                format!("a {}'s size must be from 1 to {max}", kind.name()),
                o.span,
                format!("size = {size}"),
                "the size is the most elements the queue holds at once",
            ));
            1
        };
        let (mut slots, mut slot_cap, mut tick_ns) = (0, 0, 0);
        if kind == QueueKind::Wheel {
            let s = self.named_const(o, "slots", true).unwrap_or(2);
            if !(2..=MAX_SLOTS).contains(&s) || !s.is_power_of_two() {
                self.emit(e0343(
                    format!("a wheel's slots must be a power of two from 2 to {MAX_SLOTS}"),
                    o.span,
                    format!("slots = {s}"),
                    format!(
                        "use {}",
                        s.clamp(2, MAX_SLOTS).next_power_of_two().min(MAX_SLOTS)
                    ),
                ));
            }
            slots = s.clamp(2, MAX_SLOTS).next_power_of_two().min(MAX_SLOTS) as u32;
            slot_cap = size.div_ceil(slots).next_power_of_two();
            tick_ns = match o.args.iter().find(|a| a.name.name == "tick") {
                Some(a) => match &a.value.kind {
                    ast::ExprKind::Duration(ns) if *ns > 0 => *ns,
                    _ => {
                        self.emit(e0343(
                            "a wheel's `tick` is a duration",
                            a.value.span,
                            "not a duration",
                            "write a positive duration with a unit: `tick = 1ms`, `100us`",
                        ));
                        1
                    }
                },
                None => {
                    self.emit(e0343("`wheel` needs `tick = ...`", o.ctor.span, "no `tick`", "give the time one slot covers: `wheel(slots = 64, tick = 1ms, size = 1024)`"));
                    1
                }
            };
        }
        let q = QueueHir {
            name: o.name.name.clone(),
            kind,
            elem,
            size,
            slots,
            slot_cap,
            tick_ns,
            span: o.span,
        };
        self.explain.push(explain_line(&q));
        self.queues.push(q);
    }

    /// `Q.push(..)` as a statement or (with `value`) a bool.
    pub(crate) fn queue_push(
        &mut self,
        cx: &mut Cx,
        q: usize,
        name: &str,
        args: &[ast::Expr],
        span: Span,
    ) -> Option<(Option<hir::Expr>, hir::Expr)> {
        let (kind, elem) = self.queues.get(q).map(|x| (x.kind, x.elem))?;
        let want = if kind == QueueKind::Fifo { 1 } else { 2 };
        if args.len() != want {
            let form = match kind {
                QueueKind::Fifo => format!("`{name}.push(v)`"),
                QueueKind::Pqueue => {
                    format!("`{name}.push(rank, v)`, with a `u64` rank (smallest first)")
                }
                QueueKind::Wheel => {
                    format!("`{name}.push(when_ns, v)`, with a `u64` time in nanoseconds")
                }
            };
            self.emit(
                Diagnostic::error(
                    "nfl::E0308",
                    format!(
                        "`push` on a {} takes {want} argument{}",
                        kind.name(),
                        if want == 1 { "" } else { "s" }
                    ),
                    span,
                    "wrong number of arguments",
                )
                .with_help(format!("call it as {form}")),
            );
            return None;
        }
        let rank = match kind {
            QueueKind::Fifo => None,
            QueueKind::Pqueue => Some(self.u64_arg(cx, &args[0], "the rank")?),
            QueueKind::Wheel => Some(self.u64_arg(cx, &args[0], "the time")?),
        };
        let value = self.expr_as(cx, &args[want - 1], elem, None, "the element")?;
        Some((rank, value))
    }

    /// An integer argument widened to `u64`.
    fn u64_arg(&mut self, cx: &mut Cx, e: &ast::Expr, what: &str) -> Option<hir::Expr> {
        let x = self.expr(cx, e, Some(Ty::UInt(64)))?;
        match x.ty {
            Ty::UInt(64) => Some(x),
            Ty::UInt(_) => Some(hir::Expr {
                span: x.span,
                ty: Ty::UInt(64),
                kind: ExprKind::Cast(Box::new(x)),
            }),
            Ty::Bool => {
                self.emit(
                    Diagnostic::error(
                        "nfl::E0306",
                        format!("{what} is an integer"),
                        e.span,
                        "`bool`",
                    )
                    .with_help("a `u64`: nanoseconds or a rank"),
                );
                None
            }
        }
    }

    pub(crate) fn queue_push_expr(
        &mut self,
        cx: &mut Cx,
        q: usize,
        name: &str,
        args: &[ast::Expr],
        span: Span,
    ) -> Option<hir::Expr> {
        let (rank, value) = self.queue_push(cx, q, name, args, span)?;
        let kind = ExprKind::QueuePush {
            queue: QueueId(q as u32),
            rank: rank.map(Box::new),
            value: Box::new(value),
        };
        Some(hir::Expr {
            kind,
            ty: Ty::Bool,
            span,
        })
    }

    /// A queue method in statement position.
    pub(crate) fn queue_stmt(
        &mut self,
        cx: &mut Cx,
        q: usize,
        name: &str,
        method: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
    ) -> Option<hir::Stmt> {
        let kind = self.queues.get(q)?.kind;
        match method.name.as_str() {
            "push" => {
                let (rank, value) = self.queue_push(cx, q, name, args, span)?;
                Some(hir::Stmt::QueuePush {
                    queue: QueueId(q as u32),
                    rank,
                    value,
                    span,
                })
            }
            m if takes_method(kind, m) => {
                self.emit(
                    Diagnostic::error(
                        "nfl::E0339",
                        format!("`{m}` may find the queue empty"),
                        span,
                        "used as a statement",
                    )
                    .with_help(format!(
                        "bind it: `let v = {name}.{m}({}) else {{ drop }}`",
                        if m == "pop_due" { "now" } else { "" }
                    )),
                );
                None
            }
            _ => {
                self.no_queue_method(kind, name, method);
                None
            }
        }
    }

    fn no_queue_method(&mut self, kind: QueueKind, name: &str, method: &ast::Ident) {
        self.emit(
            Diagnostic::error(
                "nfl::E0333",
                format!("a {} has no method `{}`", kind.name(), method.name),
                method.span,
                "no such method",
            )
            .with_help(format!("`{name}` has {}", kind.methods())),
        );
    }

    /// `Q.pop()`, `Q.pop_min()`, `Q.peek()`, `W.pop_due(now)` in `let ... else`.
    pub(super) fn queue_optional(
        &mut self,
        cx: &mut Cx,
        q: usize,
        name: &str,
        method: &ast::Ident,
        args: &[ast::Expr],
    ) -> Option<(Optional, Ty)> {
        let (kind, elem) = self.queues.get(q).map(|x| (x.kind, x.elem))?;
        let m = method.name.as_str();
        if !takes_method(kind, m) {
            self.no_queue_method(kind, name, method);
            return None;
        }
        let id = QueueId(q as u32);
        if m == "pop_due" {
            let [now] = args else {
                self.emit(
                    Diagnostic::error("nfl::E0308", "`pop_due` takes the time now", method.span, "wrong number of arguments")
                        .with_help(format!("`let v = {name}.pop_due(now_ns) else {{ drop }}`, `now_ns` a `u64` in nanoseconds")),
                );
                return None;
            };
            let now = self.u64_arg(cx, now, "the time")?;
            return Some((Optional::QueuePopDue { queue: id, now }, elem));
        }
        if let Some(a) = args.first() {
            self.emit(
                Diagnostic::error(
                    "nfl::E0308",
                    format!("`{m}` takes no arguments"),
                    a.span,
                    "unexpected",
                )
                .with_help(format!("`let v = {name}.{m}() else {{ drop }}`")),
            );
        }
        let opt = if m == "peek" {
            Optional::QueuePeek(id)
        } else {
            Optional::QueuePop(id)
        };
        Some((opt, elem))
    }
}

/// The taking methods of each kind.
fn takes_method(kind: QueueKind, m: &str) -> bool {
    matches!(
        (kind, m),
        (QueueKind::Fifo, "pop" | "peek")
            | (QueueKind::Pqueue, "pop_min" | "peek")
            | (QueueKind::Wheel, "pop_due")
    )
}

fn explain_line(q: &QueueHir) -> String {
    match q.kind {
        QueueKind::Fifo => format!(
            "queue {}: fifo of {} elements in a queue map",
            q.name, q.size
        ),
        QueueKind::Pqueue => format!(
            "queue {}: pqueue of {} elements (smallest rank first, ties in push order)",
            q.name, q.size
        ),
        QueueKind::Wheel => format!(
            "queue {}: timing wheel, {} slots of {} ns ({} ns ahead at most), {} elements per slot",
            q.name,
            q.slots,
            q.tick_ns,
            u64::from(q.slots).saturating_mul(q.tick_ns),
            q.slot_cap
        ),
    }
}
