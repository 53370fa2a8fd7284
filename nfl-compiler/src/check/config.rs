//! `config { ... }`: typed parameters whose values come from the `.nf`
//! defaults and the YAML file, folded into the program as constants
//! (E0320–E0324).
//!
//! Order matters: parameters are typed and their defaults folded right after
//! constants; the YAML is read once every table's key widths are known (its
//! entries are typed by them); only then are actions and the control lowered,
//! so every `config.NAME` they mention sees the final value.

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::{self, FileId, Ident, Span};

use super::expr::{Cx, Mode};
use super::{Checker, ty_str};
use crate::config::{self as yaml, CfgType, ParamSchema, ParamValue, SetItem};
use crate::hir::{self, Pattern, Ty};

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum CfgTy {
    Scalar(Ty),
    /// `set<uW>`
    Set(u32),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum CfgVal {
    Scalar(u64),
    Set(Vec<Pattern>),
}

pub(crate) struct CfgParam<'a> {
    pub decl: &'a ast::ConfigParam,
    pub ty: Option<CfgTy>,
    pub value: Option<CfgVal>,
    pub from_yaml: bool,
}

/// `set<...>` elements and scalars are at most 64 bits.
fn cfg_ty_str(ty: &CfgTy) -> String {
    match ty {
        CfgTy::Scalar(t) => ty_str(*t),
        CfgTy::Set(w) => format!("set<u{w}>"),
    }
}

fn set_item(item: &SetItem, w: u32) -> Pattern {
    let ones = super::ones(w);
    match *item {
        SetItem::Value(v) => Pattern::Value(v),
        SetItem::Prefix { value, len } => {
            let mask = ones & !ones.checked_shr(len).unwrap_or(0);
            Pattern::Mask { value: value & mask, mask }
        }
        SetItem::Range { lo, hi } => Pattern::Range { lo, hi },
        SetItem::Ternary { value, mask } => Pattern::Mask { value: value & mask, mask },
    }
}

/// A short display of a value, for `--explain` and the schema.
pub(crate) fn show_value(v: &CfgVal) -> String {
    match v {
        CfgVal::Scalar(x) => x.to_string(),
        CfgVal::Set(items) => format!("{{{} items}}", items.len()),
    }
}

impl<'a> Checker<'a> {
    pub(crate) fn collect_config(&mut self, c: &'a ast::ConfigDecl) {
        for p in &c.params {
            if let Some(first) = self.config.iter().find(|q| q.decl.name.name == p.name.name) {
                let first = first.decl.name.span;
                self.emit(
                    Diagnostic::error("nfl::E0202", format!("config parameter `{}` is declared twice", p.name.name), p.name.span, "declared again here")
                        .with_label(first, "first declared here")
                        .with_help("every config parameter needs its own name (all `config` blocks share one namespace)"),
                );
                continue;
            }
            self.config.push(CfgParam { decl: p, ty: None, value: None, from_yaml: false });
        }
    }

    /// Type every parameter and fold its default.
    pub(crate) fn lower_config_defaults(&mut self) {
        for i in 0..self.config.len() {
            let decl = self.config[i].decl;
            let ty = match &decl.ty {
                ast::ConfigType::Scalar(t) => CfgTy::Scalar(self.ty_of(t)),
                ast::ConfigType::Set(t, _) => match self.ty_of(t) {
                    Ty::UInt(w) => CfgTy::Set(w),
                    Ty::Bool => {
                        self.emit(
                            Diagnostic::error("nfl::E0320", "a config set holds integers", t.span, "`bool` here")
                                .with_help("use `set<u32>` (or another `uN`); a set of booleans is just a `bool`"),
                        );
                        continue;
                    }
                },
            };
            let value = match (&ty, &decl.default) {
                (_, None) => None,
                (CfgTy::Scalar(t), Some(ast::ConfigDefault::Expr(e))) => {
                    let mut cx = Cx::new(Mode::Const);
                    let what = format!("the default of `config.{}`", decl.name.name);
                    self.expr_as(&mut cx, e, *t, None, &what)
                        .and_then(|e| super::eval::eval(&e))
                        .map(CfgVal::Scalar)
                }
                (CfgTy::Set(w), Some(ast::ConfigDefault::Set(p))) => {
                    let mut cx = Cx::new(Mode::Const);
                    match self.pattern(&mut cx, p, *w) {
                        Some(Pattern::Set(items)) => Some(CfgVal::Set(items)),
                        Some(other) => Some(CfgVal::Set(vec![other])),
                        None => None,
                    }
                }
                (t, Some(d)) => {
                    let span = match d {
                        ast::ConfigDefault::Expr(e) => e.span,
                        ast::ConfigDefault::Set(p) => pattern_span(p).unwrap_or(decl.span),
                    };
                    let help = match t {
                        CfgTy::Set(_) => "a set's default is a braced list: `= {198.18.0.0/15, 80}`",
                        CfgTy::Scalar(_) => "a scalar's default is one value: `= 10000`",
                    };
                    self.emit(
                        Diagnostic::error("nfl::E0321", format!("the default does not fit `{}`", cfg_ty_str(t)), span, "wrong kind of default")
                            .with_help(help),
                    );
                    None
                }
            };
            self.config[i].ty = Some(ty);
            self.config[i].value = value;
        }
    }

    /// The parameters as the YAML reader sees them.
    pub(crate) fn config_params_schema(&self) -> Vec<ParamSchema> {
        self.config
            .iter()
            .filter_map(|p| {
                let ty = match p.ty.as_ref()? {
                    CfgTy::Scalar(Ty::Bool) => CfgType::Bool,
                    CfgTy::Scalar(Ty::UInt(w)) => CfgType::UInt(*w),
                    CfgTy::Set(w) => CfgType::Set(*w),
                };
                Some(ParamSchema { name: p.decl.name.name.clone(), ty, required: p.decl.default.is_none() })
            })
            .collect()
    }

    /// Take the YAML's parameter values over the defaults; report required
    /// parameters that still have none (only when no YAML was given: the
    /// reader reports them otherwise).
    pub(crate) fn apply_config_params(&mut self, values: Option<&yaml::ConfigValues>) {
        for i in 0..self.config.len() {
            let name = self.config[i].decl.name.name.clone();
            let given = values.and_then(|v| v.params.get(&name));
            if let (Some((v, _)), Some(ty)) = (given, self.config[i].ty.clone()) {
                let value = match (v, ty) {
                    (ParamValue::UInt(x), _) => CfgVal::Scalar(*x),
                    (ParamValue::Bool(b), _) => CfgVal::Scalar(u64::from(*b)),
                    (ParamValue::Set(items), CfgTy::Set(w)) => CfgVal::Set(items.iter().map(|it| set_item(it, w)).collect()),
                    (ParamValue::Set(_), CfgTy::Scalar(_)) => continue,
                };
                self.config[i].value = Some(value);
                self.config[i].from_yaml = true;
            } else if self.config[i].decl.default.is_none() && values.is_none() && self.config[i].ty.is_some() {
                let decl = self.config[i].decl;
                self.emit(
                    Diagnostic::error("nfl::E0322", format!("config parameter `{name}` has no value"), decl.name.span, "no default here")
                        .with_help(format!("give a default (`{name}: ... = VALUE`) or pass `--config FILE.yaml` with `{name}: VALUE`")),
                );
            }
        }
    }

    fn config_param(&mut self, name: &Ident) -> Option<usize> {
        let found = self.config.iter().position(|p| p.decl.name.name == name.name);
        if found.is_none() {
            let names: Vec<&str> = self.config.iter().map(|p| p.decl.name.name.as_str()).collect();
            let help = match super::closest(&name.name, names.iter().copied()) {
                Some(s) => format!("did you mean `config.{s}`?"),
                None if names.is_empty() => format!("declare it: `config {{ {}: u32 = 0 }}`", name.name),
                None => format!("declared parameters: {}", names.join(", ")),
            };
            self.emit(
                Diagnostic::error("nfl::E0204", format!("no config parameter `{}`", name.name), name.span, "unknown parameter")
                    .with_help(help),
            );
        }
        found
    }

    /// `config.NAME` as a value: a constant of the parameter's type.
    pub(crate) fn config_expr(&mut self, name: &Ident, span: Span) -> Option<hir::Expr> {
        let i = self.config_param(name)?;
        let p = &self.config[i];
        match (p.ty.clone()?, p.value.clone()?) {
            (CfgTy::Scalar(ty), CfgVal::Scalar(v)) => {
                self.config_used[i] = true;
                Some(hir::Expr { kind: hir::ExprKind::Const(v), ty, span })
            }
            _ => {
                self.emit(
                    Diagnostic::error("nfl::E0323", format!("`config.{}` is a set, not a value", name.name), span, "a set")
                        .with_help(format!("test membership: `x in config.{}`", name.name)),
                );
                None
            }
        }
    }

    /// `x in config.NAME` where the parameter is a set: its patterns for a
    /// `u{w}` key. `None` (after a diagnostic) when it is not a usable set.
    pub(crate) fn config_set(&mut self, name: &Ident, w: u32, span: Span) -> Option<Pattern> {
        let i = self.config_param(name)?;
        let p = &self.config[i];
        match (p.ty.clone()?, p.value.clone()?) {
            (CfgTy::Set(sw), CfgVal::Set(items)) if sw == w => {
                self.config_used[i] = true;
                Some(Pattern::Set(items))
            }
            (t, _) => {
                self.emit(
                    Diagnostic::error(
                        "nfl::E0324",
                        format!("`config.{}` is `{}`, but the key is `u{w}`", name.name, cfg_ty_str(&t)),
                        span,
                        "does not match the key",
                    )
                    .with_help(format!("declare it as `set<u{w}>`, or cast the key")),
                );
                None
            }
        }
    }

    /// `config.NAME` naming a set parameter.
    pub(crate) fn is_config_set(&self, e: &ast::Expr) -> bool {
        let ast::ExprKind::Field { base, name } = &e.kind else { return false };
        matches!(&base.kind, ast::ExprKind::Name(b) if b.name == "config")
            && self.config.iter().any(|p| p.decl.name.name == name.name && matches!(p.ty, Some(CfgTy::Set(_))))
    }

    /// One `--explain` line per parameter.
    pub(crate) fn explain_config(&mut self) {
        for (i, p) in self.config.iter().enumerate() {
            let Some(v) = &p.value else { continue };
            let origin = if p.from_yaml { "from the config file" } else { "default" };
            let used = if self.config_used.get(i).copied().unwrap_or(false) { "folded into the code" } else { "unused" };
            self.explain.push(format!("config.{} = {} ({origin}); {used}", p.decl.name.name, show_value(v)));
        }
    }

    pub(crate) fn config_values_display(&self) -> Vec<(String, String)> {
        self.config
            .iter()
            .filter_map(|p| Some((p.decl.name.name.clone(), show_value(p.value.as_ref()?))))
            .collect()
    }
}

fn pattern_span(p: &ast::Pattern) -> Option<Span> {
    match p {
        ast::Pattern::Wildcard(s) => Some(*s),
        ast::Pattern::Value(e) => Some(e.span),
        ast::Pattern::Mask { span, .. }
        | ast::Pattern::Range { span, .. }
        | ast::Pattern::Prefix { span, .. }
        | ast::Pattern::Set { span, .. } => Some(*span),
    }
}

/// Read the YAML file (already in the source map) against the schema.
pub(crate) fn read_yaml(file: FileId, text: &str, schema: &yaml::ConfigSchema) -> (yaml::ConfigValues, Vec<Diagnostic>) {
    yaml::read_config(file, text, schema)
}
