//! What a program declares (the schema the checker builds from `config` and
//! `table` declarations) and what a YAML file supplied for it (the values).

use std::collections::BTreeMap;

use nfl_syntax::ast::Span;
use serde::{Deserialize, Serialize};

/// The type of a `config` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CfgType {
    /// `uN`, N in 1..=64.
    UInt(u32),
    Bool,
    /// `set<uN>`: the element width.
    Set(u32),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamSchema {
    pub name: String,
    pub ty: CfgType,
    /// No default in the `.nf` source: the YAML file must set it.
    pub required: bool,
}

/// A key's match kind (the tables' own type).
pub use crate::table::MatchKind;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySchema {
    /// As written in the `.nf` source: `ipv4.src`, `(ipv6.dst_hi, ipv6.dst_lo)`.
    /// YAML keys match it ignoring whitespace.
    pub name: String,
    /// 1..=128.
    pub width: u32,
    pub kind: MatchKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionSchema {
    pub name: String,
    /// Parameter names and widths (1..=64), in declaration order.
    pub params: Vec<(String, u32)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSchema {
    pub name: String,
    pub keys: Vec<KeySchema>,
    pub actions: Vec<ActionSchema>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigSchema {
    pub params: Vec<ParamSchema>,
    pub tables: Vec<TableSchema>,
    /// The `maglev` pools, whose groups the file lists under `pools:`.
    #[serde(default)]
    pub pools: Vec<PoolCfgSchema>,
}

/// A `pool NAME: maglev(...) of uW`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolCfgSchema {
    pub name: String,
    pub width: u32,
}

/// A maglev pool's groups as the file lists them: each group's members
/// (distinct, in file order) and the group's span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolGroups {
    pub groups: Vec<(Vec<u64>, Span)>,
    pub span: Span,
}

/// How one entry matches one key. Values fit the key's width, prefixes
/// have their host bits cleared, and a ternary value has no bits outside
/// its mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyMatch {
    Exact(u128),
    Prefix {
        value: u128,
        len: u32,
    },
    Ternary {
        value: u128,
        mask: u128,
    },
    /// Inclusive; `lo <= hi`.
    Range {
        lo: u128,
        hi: u128,
    },
    /// `_`, or a ternary or range key left out of `match`.
    Any,
}

/// One element of a `set<uN>` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetItem {
    Value(u64),
    /// Host bits cleared.
    Prefix {
        value: u64,
        len: u32,
    },
    /// Inclusive; `lo <= hi`.
    Range {
        lo: u64,
        hi: u64,
    },
    Ternary {
        value: u64,
        mask: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParamValue {
    UInt(u64),
    Bool(bool),
    Set(Vec<SetItem>),
}

/// One table entry, in the order the file lists them (first listed wins).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryValue {
    /// One per key, in schema order.
    pub matches: Vec<KeyMatch>,
    pub action: String,
    /// One per action parameter, in schema order.
    pub args: Vec<u64>,
    /// The entry in the YAML file.
    pub span: Span,
}

/// What the file set. A parameter the file leaves out (or sets wrongly) is
/// absent; every schema table is present, empty when the file lists no
/// entries for it. Wrong entries are left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigValues {
    /// Each with the span of its value in the YAML file.
    pub params: BTreeMap<String, (ParamValue, Span)>,
    pub tables: BTreeMap<String, Vec<EntryValue>>,
    /// The `pools:` the file lists (a pool left out is absent).
    pub pools: BTreeMap<String, PoolGroups>,
}
