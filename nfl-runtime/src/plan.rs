//! What a reload does with each map (docs/running.md, "Reload rules"): pure,
//! from the schemas of the running object and of the new one.
//!
//! - State whose layout is unchanged is **kept** (the pin is reused):
//!   counters, state maps, dynamic tables, table stats.
//! - Static tables and maglev pools are **fresh**: created anew and filled
//!   from the new schema, since their content is the config.
//! - A changed layout is **migrated** where the change allows: an array or
//!   map that grew or a counter that shrank (cells copied), a dynamic table
//!   whose actions changed or that grew (values re-encoded by action and
//!   parameter name; tuple-space tables rebuilt from their rule list).
//! - Anything else is **recreated** (empty, or with the new config's entries),
//!   and the report says why.

use nfl_compiler::schema::{MapSchema, Schema, StateMapSchema};
use nfl_compiler::table::{TableImpl, TableLayout};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Migration {
    /// A counter array that grew or shrank: cells copied by index.
    Cells { old: u32, new: u32 },
    /// A state map that grew: every entry copied.
    Entries,
    /// A hash or LPM table: entries copied, values re-encoded.
    Values,
    /// A tuple-space table: rebuilt from the control plane's rule list.
    Rules,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    Keep,
    /// A static table's map: created and filled from the new schema.
    Fresh,
    /// Not in the running program.
    New,
    Migrate(Migration),
    /// Created empty (or with the new schema's entries); the reason.
    Recreate(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapPlan {
    pub map: String,
    pub fate: Fate,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// One per map of the new program, in its schema's order.
    pub maps: Vec<MapPlan>,
    /// Maps of the running program the new one does not have.
    pub removed: Vec<String>,
}

impl Plan {
    pub fn fate(&self, map: &str) -> Option<&Fate> {
        self.maps.iter().find(|m| m.map == map).map(|m| &m.fate)
    }
}

/// What a map is for.
#[derive(Clone, Copy, Debug)]
enum Role<'s> {
    Counter,
    State(&'s StateMapSchema),
    Rules(&'s TableLayout),
    Masks(&'s TableLayout),
    TableStats,
    Other,
}

impl Role<'_> {
    fn name(&self) -> &'static str {
        match self {
            Role::Counter => "a counter",
            Role::State(_) => "a state map",
            Role::Rules(_) => "a table's rules",
            Role::Masks(_) => "a table's masks",
            Role::TableStats => "a table's statistics",
            Role::Other => "another map",
        }
    }

    fn table(&self) -> Option<&TableLayout> {
        match self {
            Role::Rules(t) | Role::Masks(t) => Some(t),
            _ => None,
        }
    }
}

fn role<'s>(s: &'s Schema, map: &str) -> Role<'s> {
    if s.counters.iter().any(|c| c.name == map) {
        return Role::Counter;
    }
    if let Some(m) = s.state_maps.iter().find(|m| m.name == map) {
        return Role::State(m);
    }
    for t in &s.tables {
        if t.rules_map == map {
            return Role::Rules(t);
        }
        if t.masks_map.as_deref() == Some(map) {
            return Role::Masks(t);
        }
        if t.stats_map() == map {
            return Role::TableStats;
        }
    }
    Role::Other
}

/// Same kind, flags and element sizes (`max_entries` aside).
fn same_elements(a: &MapSchema, b: &MapSchema) -> bool {
    (&a.kind, a.key_size, a.value_size, a.flags) == (&b.kind, b.key_size, b.value_size, b.flags)
}

fn same_shape(a: &MapSchema, b: &MapSchema) -> bool {
    same_elements(a, b) && a.max_entries == b.max_entries
}

/// How `old` differs from `new`, for the report.
pub fn shape_change(old: &MapSchema, new: &MapSchema) -> String {
    let mut parts = Vec::new();
    if old.kind != new.kind {
        parts.push(format!("kind {} -> {}", old.kind, new.kind));
    }
    for (what, a, b) in [("key", old.key_size, new.key_size), ("value", old.value_size, new.value_size)] {
        if a != b {
            parts.push(format!("{what} {a} -> {b} B"));
        }
    }
    if old.flags != new.flags {
        parts.push(format!("flags {:#x} -> {:#x}", old.flags, new.flags));
    }
    if old.max_entries != new.max_entries {
        parts.push(format!("{} -> {} entries", old.max_entries, new.max_entries));
    }
    if parts.is_empty() { "same layout".into() } else { parts.join(", ") }
}

fn imp_class(i: TableImpl) -> &'static str {
    match i {
        TableImpl::Inline => "inline",
        TableImpl::Hash => "hash",
        TableImpl::Lpm => "lpm",
        TableImpl::Tss { .. } => "tss",
    }
}

/// The fate of a dynamic table's maps (both maps of a tuple-space table
/// share it).
fn table_fate(old: &Schema, new: &Schema, ot: &TableLayout, nt: &TableLayout) -> Fate {
    if !ot.dynamic {
        return Fate::Recreate("the table was static; filled from the new config".into());
    }
    if ot.keys != nt.keys || imp_class(ot.imp) != imp_class(nt.imp) {
        return Fate::Recreate("its key changed; filled from the new config".into());
    }
    let maps = |s: &Schema, t: &TableLayout| [Some(t.rules_map.as_str()), t.masks_map.as_deref()].map(|m| m.and_then(|m| s.map(m)).cloned());
    let unchanged = maps(old, ot).iter().zip(maps(new, nt).iter()).all(|(a, b)| match (a, b) {
        (Some(a), Some(b)) => same_shape(a, b),
        (None, None) => true,
        _ => false,
    });
    if unchanged && ot.actions == nt.actions && ot.imp == nt.imp {
        return Fate::Keep;
    }
    Fate::Migrate(if matches!(nt.imp, TableImpl::Tss { .. }) { Migration::Rules } else { Migration::Values })
}

fn state_fate(o: &MapSchema, n: &MapSchema, os: &StateMapSchema, ns: &StateMapSchema) -> Fate {
    if os.idle_ns.is_some() != ns.idle_ns.is_some() {
        let what = if ns.idle_ns.is_some() { "an idle timeout was added" } else { "the idle timeout was removed" };
        return Fate::Recreate(format!("{what} ({})", shape_change(o, n)));
    }
    if os.key_widths != ns.key_widths || os.value_width != ns.value_width || !same_elements(o, n) {
        return Fate::Recreate(format!("its key or value changed ({})", shape_change(o, n)));
    }
    match n.max_entries.cmp(&o.max_entries) {
        std::cmp::Ordering::Equal => Fate::Keep,
        std::cmp::Ordering::Greater => Fate::Migrate(Migration::Entries),
        std::cmp::Ordering::Less => Fate::Recreate(format!("it shrank ({})", shape_change(o, n))),
    }
}

/// The fate of map `n` of the new program.
fn fate(old: &Schema, new: &Schema, n: &MapSchema) -> Fate {
    let new_role = role(new, &n.name);
    let maglev = |m: &nfl_compiler::schema::MaglevSchema| m.name == n.name || nfl_compiler::build::maglev::members_map(&m.name) == n.name;
    if new_role.table().is_some_and(|t| !t.dynamic) || new.maglevs.iter().any(maglev) {
        return Fate::Fresh;
    }
    let Some(o) = old.map(&n.name) else { return Fate::New };
    match (role(old, &n.name), new_role) {
        (Role::Rules(ot) | Role::Masks(ot), Role::Rules(nt) | Role::Masks(nt)) => table_fate(old, new, ot, nt),
        (Role::Counter, Role::Counter) if same_elements(o, n) => {
            if o.max_entries == n.max_entries { Fate::Keep } else { Fate::Migrate(Migration::Cells { old: o.max_entries, new: n.max_entries }) }
        }
        (Role::State(os), Role::State(ns)) => state_fate(o, n, os, ns),
        (a, b) if a.name() != b.name() => Fate::Recreate(format!("it was {}, now {}", a.name(), b.name())),
        _ if same_shape(o, n) => Fate::Keep,
        _ => Fate::Recreate(format!("its layout changed ({})", shape_change(o, n))),
    }
}

/// What to do with every map when `old` is replaced by `new`.
pub fn plan(old: &Schema, new: &Schema) -> Plan {
    let maps = new.maps.iter().map(|m| MapPlan { map: m.name.clone(), fate: fate(old, new, m) }).collect();
    let removed = old.maps.iter().filter(|m| new.map(&m.name).is_none()).map(|m| m.name.clone()).collect();
    Plan { maps, removed }
}
