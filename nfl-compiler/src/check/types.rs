//! Written types and header layout: widths 1..=64 (E0301), whole-byte
//! headers (E0302), stack sizes 1..=64 (E0303).

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::{self, Type, TypeRef};

use super::Checker;
use crate::hir::{FieldInfo, HeaderInfo, Ty};

/// Names a header field may not have: `.valid` and `.last` mean something else.
const RESERVED_FIELDS: [&str; 2] = ["valid", "last"];

impl Checker<'_> {
    /// The checked type of a written type. A bad width is reported (E0301)
    /// and clamped so checking can go on.
    pub(crate) fn ty_of(&mut self, t: &TypeRef) -> Ty {
        match t.ty {
            Type::Bool => Ty::Bool,
            Type::UInt(w) if (1..=64).contains(&w) => Ty::UInt(w),
            Type::UInt(w) => {
                self.emit(
                    Diagnostic::error("nfl::E0301", format!("invalid width `u{w}`"), t.span, "widths are 1 to 64 bits")
                        .with_help("use a type from `u1` to `u64`"),
                );
                Ty::UInt(w.clamp(1, 64))
            }
        }
    }

    /// Lay out one header declaration.
    pub(crate) fn layout_header(&mut self, h: &ast::HeaderDecl) -> HeaderInfo {
        let mut fields: Vec<FieldInfo> = Vec::new();
        let mut seen: std::collections::HashMap<&str, ast::Span> = std::collections::HashMap::new();
        let mut bits: u64 = 0;
        for f in &h.fields {
            let width = match f.ty.ty {
                Type::Bool => {
                    self.emit(
                        Diagnostic::error(
                            "nfl::E0301",
                            format!("header field `{}` cannot be `bool`", f.name.name),
                            f.ty.span,
                            "header fields are unsigned integers",
                        )
                        .with_help("use `u1` for a one-bit flag"),
                    );
                    1
                }
                Type::UInt(_) => self.ty_of(&f.ty).width(),
            };
            if RESERVED_FIELDS.contains(&f.name.name.as_str()) {
                self.emit(
                    Diagnostic::error(
                        "nfl::E0208",
                        format!("`{}` cannot be a field name", f.name.name),
                        f.name.span,
                        "reserved",
                    )
                    .with_help(format!("`H.{}` already has a meaning; rename the field", f.name.name)),
                );
            }
            if let Some(first) = seen.get(f.name.name.as_str()) {
                self.emit(
                    Diagnostic::error(
                        "nfl::E0202",
                        format!("field `{}` is declared twice in header `{}`", f.name.name, h.name.name),
                        f.name.span,
                        "declared again here",
                    )
                    .with_label(*first, "first declared here")
                    .with_help("rename or remove one of the fields"),
                );
            } else {
                seen.insert(&f.name.name, f.name.span);
            }
            fields.push(FieldInfo {
                name: f.name.name.clone(),
                bit_offset: u32::try_from(bits).unwrap_or(u32::MAX),
                width,
            });
            bits = bits.saturating_add(u64::from(width));
        }
        if bits == 0 {
            self.emit(
                Diagnostic::error(
                    "nfl::E0302",
                    format!("header `{}` has no fields", h.name.name),
                    h.name.span,
                    "empty header",
                )
                .with_help("declare at least one field; a header is a whole number of bytes"),
            );
        } else if !bits.is_multiple_of(8) {
            let add = 8 - bits % 8;
            self.emit(
                Diagnostic::error(
                    "nfl::E0302",
                    format!("header `{}` is not a whole number of bytes", h.name.name),
                    h.name.span,
                    format!("{bits} bits"),
                )
                .with_help(format!(
                    "the fields add up to {bits} bits; add {add} bit{} (for example a field `pad: u{add}`) to make {} bytes",
                    if add == 1 { "" } else { "s" },
                    (bits + add) / 8
                )),
            );
        }
        let stack = match h.stack {
            None => None,
            Some((n, span)) => {
                if (1..=64).contains(&n) {
                    Some(n as u32)
                } else {
                    self.emit(
                        Diagnostic::error(
                            "nfl::E0303",
                            format!("header stack `{}` has size {n}", h.name.name),
                            span,
                            "stack sizes are 1 to 64",
                        )
                        .with_help("give the stack between 1 and 64 elements, e.g. `header vlan[2] { ... }`"),
                    );
                    Some(n.clamp(1, 64) as u32)
                }
            }
        };
        HeaderInfo {
            name: h.name.name.clone(),
            fields,
            byte_len: u32::try_from(bits / 8).unwrap_or(u32::MAX),
            stack,
            span: h.span,
        }
    }
}
