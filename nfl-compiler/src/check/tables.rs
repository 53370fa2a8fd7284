//! Tables (E0325–E0331): keys, actions, default action, size, constant
//! entries and entries from the config file; the choice of implementation
//! (inline code, hash map, LPM trie or tuple-space classifier).
//!
//! Key expressions are typed once, where the table is declared, with the
//! validity check deferred: like an action body, whatever headers they read
//! must be known valid at every `apply`.

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::{self, MatchKind as AMatch, Span};

use super::expr::{Cx, Mode};
use super::{Checker, Global};
use crate::config as yaml;
use crate::hir::{self, ActionId, EntryHir, HeaderRef, KeyMatch, Pattern, TableHir, Ty};
use crate::table::{self, KeySpec, MatchKind, TableImpl};

/// Static tables with at most this many entries compile to compares.
pub const INLINE_MAX: usize = 8;
/// Mask bound of a run-time writable tuple-space table without `masks N`.
pub const DEFAULT_MASKS: u32 = 32;

pub(crate) struct TableSig<'a> {
    pub decl: &'a ast::TableDecl,
    pub keys: Vec<KeySpec>,
    pub key_exprs: Vec<hir::Expr>,
    pub actions: Vec<ActionId>,
    pub requires: Vec<(HeaderRef, Span, bool)>,
    pub ok: bool,
}

fn kind(k: AMatch) -> MatchKind {
    match k {
        AMatch::Exact => MatchKind::Exact,
        AMatch::Lpm => MatchKind::Lpm,
        AMatch::Ternary => MatchKind::Ternary,
        AMatch::Range => MatchKind::Range,
    }
}

fn mentions_config(e: &ast::Expr) -> bool {
    use ast::ExprKind as K;
    match &e.kind {
        K::Name(id) => id.name == "config",
        K::Field { base, .. } => mentions_config(base),
        K::Index { base, index } => mentions_config(base) || mentions_config(index),
        K::Unary { operand, .. } => mentions_config(operand),
        K::Binary { lhs, rhs, .. } => mentions_config(lhs) || mentions_config(rhs),
        K::Cast { expr, .. } => mentions_config(expr),
        K::In { expr, .. } => mentions_config(expr),
        K::MethodCall { receiver, args, .. } => mentions_config(receiver) || args.iter().any(mentions_config),
        K::Tuple(items) => items.iter().any(mentions_config),
        _ => false,
    }
}

impl<'a> Checker<'a> {
    /// Type keys and resolve action names of every table.
    pub(crate) fn type_tables(&mut self) {
        for i in 0..self.tables.len() {
            let decl = self.tables[i].decl;
            let mut cx = Cx::new(Mode::Control);
            cx.deferred = true;
            let mut ok = true;
            let mut keys = Vec::new();
            let mut exprs = Vec::new();
            if decl.keys.is_empty() {
                self.emit(
                    Diagnostic::error("nfl::E0325", format!("table `{}` has no key", decl.name.name), decl.name.span, "no `key` section")
                        .with_help("add one: `key { ipv4.dst: lpm }`"),
                );
                ok = false;
            }
            for k in &decl.keys {
                let mut widths = Vec::new();
                for e in &k.exprs {
                    if mentions_config(e) {
                        self.emit(
                            Diagnostic::error("nfl::E0326", "a table key cannot depend on `config`", e.span, "reads config")
                                .with_help("keys are packet values; compare config values in the control instead"),
                        );
                        ok = false;
                        continue;
                    }
                    match self.expr(&mut cx, e, None) {
                        Some(x) if matches!(x.ty, Ty::UInt(_)) => {
                            widths.push(x.ty.width());
                            exprs.push(x);
                        }
                        Some(_) => {
                            self.emit(
                                Diagnostic::error("nfl::E0306", "a table key must be an integer", e.span, "`bool`")
                                    .with_help("match on an integer: `x as u8`, or test the condition in the control"),
                            );
                            ok = false;
                        }
                        None => ok = false,
                    }
                }
                if k.exprs.len() > 1 && k.kind == AMatch::Range {
                    self.emit(
                        Diagnostic::error("nfl::E0327", "a range key must be a single field", k.span, "a tuple")
                            .with_help("split it into one range key per field"),
                    );
                    ok = false;
                }
                let name = self.snippet(k.span.to(k.exprs.last().map_or(k.span, |e| e.span))).unwrap_or_else(|| format!("key{}", keys.len()));
                let name = name.split(':').next().unwrap_or(&name).trim().to_string();
                keys.push(KeySpec { name, kind: kind(k.kind), widths });
            }
            let actions = self.table_actions(decl);
            ok &= actions.len() == decl.actions.len();
            let sig = &mut self.tables[i];
            sig.keys = keys;
            sig.key_exprs = exprs;
            sig.actions = actions;
            sig.requires = std::mem::take(&mut cx.requires);
            sig.ok = ok;
        }
    }

    fn resolve_action(&mut self, name: &ast::Ident) -> Option<ActionId> {
        match self.globals.get(&name.name).copied() {
            Some((Global::Action(id), _)) => Some(id),
            Some((g, decl)) => {
                self.emit(
                    Diagnostic::error("nfl::E0207", format!("`{}` is a {}, not an action", name.name, g.describe()), name.span, "not an action")
                        .with_label(decl, "declared here")
                        .with_help("a table's actions are declared with `action NAME(...) { ... }`"),
                );
                None
            }
            None => {
                self.emit(
                    Diagnostic::error("nfl::E0205", format!("unknown action `{}`", name.name), name.span, "no such action")
                        .with_help("declare it: `action NAME(p: u32) { ... }`"),
                );
                None
            }
        }
    }

    fn table_actions(&mut self, decl: &ast::TableDecl) -> Vec<ActionId> {
        let mut out: Vec<ActionId> = Vec::new();
        for a in &decl.actions {
            if let Some(id) = self.resolve_action(a) {
                if out.contains(&id) {
                    self.emit(
                        Diagnostic::error("nfl::E0202", format!("action `{}` is listed twice", a.name), a.span, "listed again")
                            .with_help("list each action once"),
                    );
                    continue;
                }
                out.push(id);
            }
        }
        if decl.actions.is_empty() {
            self.emit(
                Diagnostic::error("nfl::E0325", format!("table `{}` has no actions", decl.name.name), decl.name.span, "no `actions` section")
                    .with_help("list what an entry may do: `actions { allow, deny }`"),
            );
        }
        out
    }

    /// What the YAML reader needs to type a table's entries.
    pub(crate) fn table_schemas(&self) -> Vec<yaml::TableSchema> {
        self.tables
            .iter()
            .filter(|t| t.ok)
            .map(|t| yaml::TableSchema {
                name: t.decl.name.name.clone(),
                keys: t
                    .keys
                    .iter()
                    .map(|k| yaml::KeySchema { name: k.name.clone(), width: k.width(), kind: k.kind })
                    .collect(),
                actions: t
                    .actions
                    .iter()
                    .filter_map(|a| {
                        let sig = self.actions.get(a.index())?;
                        let params = sig.decl.params.iter().zip(&sig.param_tys).map(|(p, t)| (p.name.name.clone(), t.width())).collect();
                        Some(yaml::ActionSchema { name: sig.decl.name.name.clone(), params })
                    })
                    .collect(),
            })
            .collect()
    }

    /// Constant arguments of an action reference.
    fn const_args(&mut self, action: ActionId, r: &ast::ActionRef) -> Option<Vec<u64>> {
        let tys = self.actions.get(action.index())?.param_tys.clone();
        if tys.len() != r.args.len() {
            self.emit(
                Diagnostic::error("nfl::E0308", format!("`{}` takes {} argument(s), {} given", r.name.name, tys.len(), r.args.len()), r.span, "wrong number of arguments")
                    .with_help("give one constant per parameter"),
            );
            return None;
        }
        let mut out = Vec::new();
        for (a, t) in r.args.iter().zip(tys) {
            let mut cx = Cx::new(Mode::Const);
            let e = self.expr_as(&mut cx, a, t, None, &format!("an argument of `{}`", r.name.name))?;
            out.push(super::eval::eval(&e)?);
        }
        Some(out)
    }

    /// One key's pattern from a `.nf` entry as a key match.
    fn key_match(&mut self, p: &ast::Pattern, key: &KeySpec) -> Option<KeyMatch> {
        let w = key.width();
        if w > 64 {
            if matches!(p, ast::Pattern::Wildcard(_)) {
                return Some(KeyMatch::Any);
            }
            self.emit(
                Diagnostic::error("nfl::E0328", format!("key `{}` is {w} bits wide; write its entries in the config file", key.name), entry_span(p), "too wide for a literal")
                    .with_help("patterns in `.nf` are at most 64 bits; YAML entries take IPv6 addresses and prefixes"),
            );
            return None;
        }
        let mut cx = Cx::new(Mode::Const);
        let pat = self.pattern(&mut cx, p, w)?;
        let full = super::ones(w);
        let m = match (&pat, key.kind) {
            (Pattern::Any, MatchKind::Exact) => None,
            (Pattern::Any, _) => Some(KeyMatch::Any),
            (Pattern::Value(v), MatchKind::Exact) => Some(KeyMatch::Exact(u128::from(*v))),
            (Pattern::Value(v), MatchKind::Lpm) => Some(KeyMatch::Prefix { value: u128::from(*v), len: w }),
            (Pattern::Value(v), MatchKind::Ternary) => Some(KeyMatch::Ternary { value: u128::from(*v), mask: u128::from(full) }),
            (Pattern::Value(v), MatchKind::Range) => Some(KeyMatch::Range { lo: u128::from(*v), hi: u128::from(*v) }),
            (Pattern::Mask { value, mask }, MatchKind::Lpm) => {
                let len = mask.count_ones();
                let prefix_shaped = *mask == full & !full.checked_shr(len).unwrap_or(0);
                prefix_shaped.then_some(KeyMatch::Prefix { value: u128::from(*value), len })
            }
            (Pattern::Mask { value, mask }, MatchKind::Ternary) => Some(KeyMatch::Ternary { value: u128::from(*value), mask: u128::from(*mask) }),
            (Pattern::Range { lo, hi }, MatchKind::Range) if lo <= hi => Some(KeyMatch::Range { lo: u128::from(*lo), hi: u128::from(*hi) }),
            _ => None,
        };
        if m.is_none() {
            let accepted = match key.kind {
                MatchKind::Exact => "a value",
                MatchKind::Lpm => "a value, a prefix `ADDR/LEN` or `_`",
                MatchKind::Ternary => "a value, `VALUE &&& MASK`, a prefix or `_`",
                MatchKind::Range => "a value, a non-empty range `LO..=HI` or `_`",
            };
            self.emit(
                Diagnostic::error("nfl::E0329", format!("this pattern does not suit the {} key `{}`", key.kind.name(), key.name), entry_span(p), "wrong kind of pattern")
                    .with_help(format!("{} {} key takes {accepted}", article(key.kind), key.kind.name())),
            );
        }
        m
    }

    fn code_entries(&mut self, i: usize) -> Vec<EntryHir> {
        let decl = self.tables[i].decl;
        let keys = self.tables[i].keys.clone();
        let actions = self.tables[i].actions.clone();
        let mut out = Vec::new();
        for e in decl.entries.iter().flatten() {
            if e.patterns.len() != keys.len() {
                self.emit(
                    Diagnostic::error("nfl::E0313", format!("the entry has {} pattern(s) but the table has {} key(s)", e.patterns.len(), keys.len()), e.span, "wrong number of patterns")
                        .with_help("give one pattern per key, in key order: `(P1, P2): action`"),
                );
                continue;
            }
            let matches: Option<Vec<KeyMatch>> = e.patterns.iter().zip(&keys).map(|(p, k)| self.key_match(p, k)).collect();
            let Some(action) = self.resolve_action(&e.action.name) else { continue };
            let Some(pos) = actions.iter().position(|a| *a == action) else {
                self.emit(
                    Diagnostic::error("nfl::E0330", format!("`{}` is not one of the table's actions", e.action.name.name), e.action.name.span, "not listed in `actions`")
                        .with_help(format!("add it to `actions {{ ... }}` of `{}`", decl.name.name)),
                );
                continue;
            };
            let args = self.const_args(action, &e.action);
            if let (Some(matches), Some(args)) = (matches, args) {
                out.push(EntryHir { matches, action: pos, args });
            }
        }
        out
    }

    fn yaml_entries(&self, i: usize, values: Option<&yaml::ConfigValues>) -> Vec<EntryHir> {
        let t = &self.tables[i];
        let Some(list) = values.and_then(|v| v.tables.get(&t.decl.name.name)) else { return Vec::new() };
        list.iter()
            .filter_map(|e| {
                let pos = t.actions.iter().position(|a| self.actions.get(a.index()).is_some_and(|s| s.decl.name.name == e.action))?;
                Some(EntryHir { matches: e.matches.clone(), action: pos, args: e.args.clone() })
            })
            .collect()
    }

    pub(crate) fn const_u32(&mut self, e: &ast::Expr, what: &str, min: u64, max: u64) -> Option<u32> {
        let mut cx = Cx::new(Mode::Const);
        let v = self.expr_as(&mut cx, e, Ty::UInt(32), None, what).and_then(|x| super::eval::eval(&x))?;
        if v < min || v > max {
            self.emit(
                Diagnostic::error("nfl::E0331", format!("{what} must be from {min} to {max}"), e.span, format!("{v}"))
                    .with_help("the kernel caps map sizes; pick a value in range"),
            );
            return None;
        }
        u32::try_from(v).ok()
    }

    /// Lower every table, once the config is known.
    pub(crate) fn lower_tables(&mut self, values: Option<&yaml::ConfigValues>) -> Vec<TableHir> {
        let mut out = Vec::new();
        for i in 0..self.tables.len() {
            if !self.tables[i].ok {
                continue;
            }
            let decl = self.tables[i].decl;
            let mut entries = self.code_entries(i);
            entries.extend(self.yaml_entries(i, values));
            let default = decl.default.as_ref().and_then(|r| {
                let id = self.resolve_action(&r.name)?;
                Some((id, self.const_args(id, r)?))
            });
            let size = decl.size.as_ref().and_then(|e| self.const_u32(e, "a table's size", 1, 1 << 24));
            let masks = decl.masks.as_ref().and_then(|e| self.const_u32(e, "a table's mask bound", 1, u64::from(crate::classify::MAX_MASKS_LIMIT)));
            let dynamic = decl.size.is_some();
            let t = &self.tables[i];
            let kinds: Vec<MatchKind> = t.keys.iter().map(|k| k.kind).collect();
            let static_n = (!dynamic).then_some(entries.len());
            let tss_needed = crate::entries::tss_masks_needed(&t.keys, &entries);
            let mask_bound = masks.unwrap_or(if dynamic { DEFAULT_MASKS.max(tss_needed) } else { tss_needed.max(1) });
            let imp = table::choose_impl(&kinds, static_n, INLINE_MAX, mask_bound);
            // A longest-prefix table keeps its meaning when it is inlined:
            // the longest prefix wins, whatever order the entries were listed in.
            if imp == TableImpl::Inline
                && let Some(li) = kinds.iter().position(|k| *k == MatchKind::Lpm)
                && table::choose_impl(&kinds, None, 0, mask_bound) == TableImpl::Lpm
            {
                let len = |e: &EntryHir| match e.matches.get(li) {
                    Some(KeyMatch::Prefix { len, .. }) => *len,
                    Some(KeyMatch::Exact(_)) => u32::MAX,
                    _ => 0,
                };
                entries.sort_by_key(|e| std::cmp::Reverse(len(e)));
            }
            if let (Some(m), Some(e)) = (masks, decl.masks.as_ref())
                && m < tss_needed
                && matches!(imp, TableImpl::Tss { .. })
            {
                self.emit(
                    Diagnostic::error("nfl::E0336", format!("the entries of `{}` need {tss_needed} mask slots, `masks` allows {m}", decl.name.name), e.span, "too few mask slots")
                        .with_help(format!("raise it to `masks {tss_needed}` or more (run-time adds may need more still)")),
                );
                continue;
            }
            let needed = crate::entries::entries_needed(&t.keys, &entries, imp);
            if let (Some(n), Some(e)) = (size, decl.size.as_ref())
                && needed > n
                && imp != TableImpl::Inline
            {
                self.emit(
                    Diagnostic::error("nfl::E0336", format!("the entries of `{}` need {needed} map entries, `size` allows {n}", decl.name.name), e.span, "too small")
                        .with_help(format!("raise it to `size {needed}` or more; ranges expand to several entries each")),
                );
                continue;
            }
            let max_entries = size.unwrap_or(needed.max(1));
            let action_params = t
                .actions
                .iter()
                .filter_map(|a| {
                    let sig = self.actions.get(a.index())?;
                    let ps = sig.decl.params.iter().zip(&sig.param_tys).map(|(p, ty)| (p.name.name.clone(), ty.width())).collect();
                    Some((sig.decl.name.name.clone(), ps))
                })
                .collect();
            let layout = table::layout(&decl.name.name, imp, t.keys.clone(), action_params, max_entries, dynamic);
            self.explain.push(explain_table(&layout, entries.len(), dynamic));
            out.push(TableHir {
                layout,
                key_exprs: t.key_exprs.clone(),
                actions: t.actions.clone(),
                default,
                entries,
                span: decl.span,
            });
        }
        out
    }

    /// Header instances an `apply` of table `i` needs valid: the keys' and
    /// every action's.
    pub(crate) fn table_requires(&self, i: usize) -> Vec<(HeaderRef, Span, bool)> {
        let Some(t) = self.tables.get(i) else { return Vec::new() };
        let mut req = t.requires.clone();
        for a in &t.actions {
            if let Some(sig) = self.actions.get(a.index()) {
                req.extend(sig.requires.iter().copied());
            }
        }
        req
    }
}

/// "a" or "an" before a match kind's name.
fn article(kind: MatchKind) -> &'static str {
    if matches!(kind, MatchKind::Exact | MatchKind::Lpm) { "an" } else { "a" }
}

fn entry_span(p: &ast::Pattern) -> Span {
    match p {
        ast::Pattern::Wildcard(s) => *s,
        ast::Pattern::Value(e) => e.span,
        ast::Pattern::Mask { span, .. }
        | ast::Pattern::Range { span, .. }
        | ast::Pattern::Prefix { span, .. }
        | ast::Pattern::Set { span, .. } => *span,
    }
}

fn explain_table(t: &table::TableLayout, n: usize, dynamic: bool) -> String {
    let keys: Vec<String> = t.keys.iter().map(|k| format!("{}: {}", k.name, k.kind.name())).collect();
    let how = match t.imp {
        TableImpl::Inline => format!("compiled into code: {n} fixed entries (at most {INLINE_MAX} are inlined), no map lookup"),
        TableImpl::Hash => format!("hash map `{}` (every key exact), {} entries max", t.rules_map, t.max_entries),
        TableImpl::Lpm => format!("LPM trie `{}` (exact keys, then the lpm key), {} entries max", t.rules_map, t.max_entries),
        TableImpl::Tss { masks } => format!(
            "tuple-space classifier: {masks} mask slot(s) walked in priority order, rules in hash map `{}` ({} entries max)",
            t.rules_map, t.max_entries
        ),
    };
    let origin = if dynamic { "writable at run time" } else { "fixed at build time" };
    format!("table {} [{}]: {how}; {n} entries at build, {origin}", t.name, keys.join(", "))
}
