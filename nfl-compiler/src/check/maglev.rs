//! `pool NAME: maglev(groups = G, slots = M, members = N) of T`: backend
//! groups chosen by Maglev consistent hashing (E0345), whose members the
//! config file lists under `pools:` (E0722), and `let b = NAME.pick(group,
//! KEY...) else { ... }`. The table itself is built at load time by the
//! runtime ([`crate::maglev`]); the checker only fixes the shape.

use std::collections::BTreeMap;

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::{self, Ident, Span};

use super::Checker;
use super::expr::{Cx, konst};
use crate::config::{PoolCfgSchema, PoolGroups};
use crate::hir::{self, ExprKind, MaglevHir, MaglevId, Optional, Ty};
use crate::maglev::{DEFAULT_SLOTS, Layout, MAX_SLOTS, is_prime};

/// The most groups a pool holds (one map entry each).
pub const MAX_GROUPS: u64 = 4096;
/// The most members of one group.
pub const MAX_MEMBERS: u64 = 4096;
const DEFAULT_MEMBERS: u64 = 64;
/// The kernel's largest array value (`KMALLOC_MAX_SIZE`).
const MAX_VALUE: u32 = 4 << 20;

pub(super) fn is_maglev(o: &ast::ObjectDecl) -> bool {
    o.kind == ast::ObjectKind::Pool && o.ctor.name == "maglev"
}

fn e0345(msg: impl Into<String>, span: Span, label: impl Into<String>, help: impl Into<String>) -> Diagnostic {
    Diagnostic::error("nfl::E0345", msg, span, label).with_help(help)
}

impl<'a> Checker<'a> {
    /// What the config reader needs to read `pools:`.
    pub(crate) fn maglev_cfg_schemas(&self) -> Vec<PoolCfgSchema> {
        let decls = self.object_decls.iter().filter(|o| is_maglev(o));
        // A bad width is reported by `lower_maglev`; read it clamped here.
        let width = |o: &ast::ObjectDecl| match o.elem.as_ref().map(|t| t.ty) {
            Some(ast::Type::UInt(w)) => w.clamp(1, 64),
            Some(ast::Type::Bool) | None => 32,
        };
        decls.map(|o| PoolCfgSchema { name: o.name.name.clone(), width: width(o) }).collect()
    }

    fn maglev_elem(&mut self, o: &ast::ObjectDecl) -> Ty {
        match &o.elem {
            Some(t) => self.ty_of(t),
            None => Ty::UInt(32),
        }
    }

    pub(super) fn lower_maglev(&mut self, o: &'a ast::ObjectDecl, cfg: &BTreeMap<String, PoolGroups>) {
        self.check_args(o, &["groups", "slots", "members"]);
        if let Some(k) = &o.keyed {
            let span = k.first().map_or(o.span, |e| e.span);
            self.emit(e0345("a maglev pool is not keyed", span, "`keyed` here", "the key is given per call: `NAME.pick(group, ipv4.src, ...)`"));
        }
        let ty = match self.maglev_elem(o) {
            Ty::Bool => {
                let span = o.elem.as_ref().map_or(o.span, |t| t.span);
                self.emit(e0345("a maglev pool's members are integers", span, "`bool`", "use `u32` for IPv4 backends (the default)"));
                Ty::UInt(32)
            }
            t => t,
        };
        let bounded = |this: &mut Self, name: &str, default: u64, max: u64| {
            let v = this.named_const(o, name, false).unwrap_or(default);
            if (1..=max).contains(&v) {
                return v as u32;
            }
            this.emit(e0345(format!("a maglev pool's `{name}` must be from 1 to {max}"), o.span, format!("{name} = {v}"), "`groups` counts backend sets (one per VIP), `members` the most backends in one"));
            default as u32
        };
        let groups = bounded(self, "groups", 1, MAX_GROUPS);
        let members = bounded(self, "members", DEFAULT_MEMBERS, MAX_MEMBERS);
        let slots = self.named_const(o, "slots", false).unwrap_or(u64::from(DEFAULT_SLOTS));
        let slots = match u32::try_from(slots) {
            Ok(s) if is_prime(s) && s <= MAX_SLOTS && u64::from(s) >= u64::from(members) => s,
            _ => {
                self.emit(e0345(
                    format!("a maglev table's `slots` must be a prime from `members` to {MAX_SLOTS}"),
                    o.span,
                    format!("slots = {slots}"),
                    "Maglev needs a prime table size, well above the members (the paper uses 65537, the default)",
                ));
                DEFAULT_SLOTS
            }
        };
        let layout = Layout { slots, members, member_bytes: crate::table::slot_bytes(ty.width()) };
        if layout.value_size() > MAX_VALUE {
            self.emit(e0345("a maglev group does not fit one map value (4 MiB)", o.span, format!("{} bytes", layout.value_size()), "lower `slots` or `members`"));
        }
        let listed = cfg.get(&o.name.name);
        let groups_cfg = self.maglev_groups(o, listed, groups, members);
        self.explain_maglev(&o.name.name, &layout, groups, &groups_cfg);
        self.maglevs.push(MaglevHir { name: o.name.name.clone(), groups, layout, ty, members: groups_cfg, span: o.span });
    }

    /// The config's groups, checked against the declared sizes (E0722).
    fn maglev_groups(&mut self, o: &ast::ObjectDecl, listed: Option<&PoolGroups>, groups: u32, members: u32) -> Vec<Vec<u64>> {
        let Some(listed) = listed else { return Vec::new() };
        if listed.groups.len() > groups as usize {
            self.emit(
                Diagnostic::error("nfl::E0722", format!("pool `{}` lists {} groups; it holds {groups}", o.name.name, listed.groups.len()), listed.span, "too many groups")
                    .with_label(o.span, "declared here")
                    .with_help(format!("raise `groups` in the declaration (`maglev(groups = {})`) or list fewer", listed.groups.len())),
            );
        }
        for (m, span) in &listed.groups {
            if m.len() > members as usize {
                self.emit(
                    Diagnostic::error("nfl::E0722", format!("a group of pool `{}` lists {} members; it holds {members}", o.name.name, m.len()), *span, "too many members")
                        .with_label(o.span, "declared here")
                        .with_help(format!("raise `members` in the declaration (`maglev(members = {})`) or list fewer", m.len())),
                );
            }
        }
        listed.groups.iter().map(|(m, _)| m.clone()).collect()
    }

    fn explain_maglev(&mut self, name: &str, layout: &Layout, groups: u32, cfg: &[Vec<u64>]) {
        let kib = layout.value_size().div_ceil(1024);
        self.explain.push(format!(
            "pool {name}: maglev, {groups} group(s) of up to {} members, {} slots each ({kib} KiB per group, array map); the table is built at load",
            layout.members, layout.slots
        ));
        for (i, m) in cfg.iter().enumerate().filter(|(_, m)| !m.is_empty()) {
            let (lo, hi) = crate::maglev::spread(m, layout.slots);
            self.explain.push(format!("pool {name} group {i}: {} members, {lo}..={hi} slots each", m.len()));
        }
    }

    /// `P.has(group, member)`: whether the config lists `member` in the
    /// group (one hash lookup; `examples/l4lb.nf` checks a tracked
    /// connection's backend with it).
    pub(crate) fn maglev_has(&mut self, cx: &mut Cx, p: usize, method: &Ident, args: &[ast::Expr], span: Span) -> Option<hir::Expr> {
        let ty = self.maglevs.get(p)?.ty;
        let [group, member] = args else {
            self.emit(e0345("`has` takes the group and a member", method.span, "wrong number of arguments", "`backends.has(meta.group, meta.backend)`"));
            return None;
        };
        let group = self.maglev_group(cx, group)?;
        let member = self.expr_as(cx, member, ty, None, "the member")?;
        Some(hir::Expr { kind: ExprKind::MaglevHas { pool: MaglevId(p as u32), key: vec![group, member] }, ty: Ty::Bool, span })
    }

    /// A group number, widened to `u32`.
    fn maglev_group(&mut self, cx: &mut Cx, group: &ast::Expr) -> Option<hir::Expr> {
        let group = self.expr(cx, group, Some(Ty::UInt(32)))?;
        match group.ty {
            Ty::UInt(32) => Some(group),
            Ty::UInt(w) if w < 32 => Some(hir::Expr { span: group.span, ty: Ty::UInt(32), kind: ExprKind::Cast(Box::new(group)) }),
            _ => {
                self.emit(e0345("the group is an integer of at most 32 bits", group.span, super::ty_str(group.ty), "pass the group number, e.g. an action parameter of the VIP table"));
                None
            }
        }
    }

    /// `P.pick(group, KEY...)` in `let ... else`: the member the key hashes
    /// to, absent when the group has none.
    pub(super) fn maglev_pick(&mut self, cx: &mut Cx, p: usize, method: &Ident, args: &[ast::Expr]) -> Option<(Optional, Ty)> {
        let ty = self.maglevs.get(p)?.ty;
        let name = self.maglevs.get(p)?.name.clone();
        if method.name != "pick" {
            self.no_method("maglev pool", &name, method, "`pick(group, KEY...)` in `let ... else`, and `has(group, member)`");
            return None;
        }
        // After an error the pick still binds its local (the HIR is thrown
        // away), so uses of it do not report a second, unknown-name error.
        let placeholder = |span| Some((Optional::MaglevPick { pool: MaglevId(p as u32), group: konst(0, Ty::UInt(32), span), key: Vec::new() }, ty));
        let [group, key @ ..] = args else {
            self.emit(e0345("`pick` takes the group, then the key to hash", method.span, "no group", format!("`let b = {name}.pick(0, ipv4.src, ipv4.dst) else {{ drop }}`")));
            return placeholder(method.span);
        };
        if key.is_empty() {
            self.emit(e0345("`pick` needs a key to hash after the group", method.span, "no key", format!("`{name}.pick(meta.vip, ipv4.src, ipv4.dst, meta.sport, meta.dport)`: the flow's fields")));
            return placeholder(method.span);
        }
        let Some(group) = self.maglev_group(cx, group) else { return placeholder(method.span) };
        let mut keys = Vec::new();
        for k in key {
            let Some(e) = self.expr(cx, k, None) else { return placeholder(method.span) };
            if e.ty == Ty::Bool {
                self.emit(e0345("a key to hash is an integer", e.span, "`bool`", "cast it: `(COND) as u8`"));
                return placeholder(method.span);
            }
            keys.push(e);
        }
        Some((Optional::MaglevPick { pool: MaglevId(p as u32), group, key: keys }, ty))
    }
}
