//! The packet classifier for tables that need tuple-space search (TSS):
//! any `ternary` or `range` key, or more than one `lpm` key.
//!
//! Pure userspace: from a list of [`Rule`]s this module builds the two
//! images the eBPF lookup reads (the *masks* array value and the *rules*
//! hash map, byte layouts in [`image`]), keeps them current as rules come
//! and go ([`Classifier::insert`] / [`Classifier::remove`] return the
//! [`Delta`] to write to the kernel), and says how much room a rule set
//! needs ([`capacity`]). `docs/classifier.md` gives the design, the limits
//! and the safe order for applying a delta.
//!
//! Ranges become prefixes ([`expand::range_to_prefixes`]); each expansion
//! of a rule is one hash entry in the tuple of its mask vector; tuples are
//! probed in descending order of the highest priority they hold, and the
//! walk stops once no later tuple can beat what it has found.

mod classifier;
mod entries;
pub mod expand;
mod hash;
pub mod image;
mod reference;
mod tuples;

pub use classifier::{CAPACITY_ENTRIES_LIMIT, Classifier, capacity};
pub use reference::reference_lookup;

/// The limit on fields in a key: the hash-map key (`8 + 8n` bytes) must fit
/// the 512-byte eBPF stack the program builds it on.
pub const MAX_FIELDS: usize = 63;
/// The largest mask bound [`Classifier::new`] accepts: a lookup probes up
/// to this many tuples.
pub const MAX_MASKS_LIMIT: u32 = 4096;
/// The mask bound we suggest when a table does not choose one.
pub const DEFAULT_MAX_MASKS: u32 = 32;
/// The rules-map budget a classifier starts with
/// ([`Classifier::with_max_entries`] changes it).
pub const DEFAULT_MAX_ENTRIES: u64 = 1 << 20;

/// How one field of a rule matches the key's field. Values are the
/// field's value zero-extended to 64 bits and must fit the field's width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldMatch {
    Exact(u64),
    /// The top `len` bits of the field equal those of `value` (bits below
    /// the prefix in `value` are ignored).
    Prefix {
        value: u64,
        len: u32,
    },
    /// `key & mask == value & mask`.
    Ternary {
        value: u64,
        mask: u64,
    },
    /// `lo <= key <= hi`.
    Range {
        lo: u64,
        hi: u64,
    },
    Any,
}

/// One table entry. `prio` is unique per classifier; higher wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub matches: Vec<FieldMatch>,
    pub prio: u32,
    pub action: u32,
    pub payload: Vec<u8>,
}

/// What to write to the kernel maps after one insert or remove. Apply it
/// before the next change, in this order (docs/classifier.md says why):
/// 1. every `put` (create or overwrite a rules-map entry),
/// 2. if `masks_changed`, the whole [`Classifier::masks_image`] as it is
///    now, in one array-map update,
/// 3. every `del`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    pub put: Vec<(Vec<u8>, Vec<u8>)>,
    pub del: Vec<Vec<u8>>,
    pub masks_changed: bool,
}

/// Sizes of a classifier's contents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassifierStats {
    pub rules: usize,
    /// Rules-map entries (distinct keys).
    pub entries: usize,
    /// (rule, expansion) pairs; more than `entries` where expansions of
    /// different rules share a key (only the highest priority is stored).
    pub expansions: usize,
    /// Live mask slots (tuples).
    pub masks: usize,
    /// The most expansions of a single rule.
    pub max_entries_per_rule: usize,
}

/// Why a classifier could not be built or changed. A failed
/// [`Classifier::insert`] or [`Classifier::remove`] changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    #[error("field {field}: width {width} is not within 1..=64")]
    BadWidth { field: usize, width: u32 },
    #[error("{fields} key fields; at most {max}")]
    TooManyFields { fields: usize, max: usize },
    #[error("mask bound {max_masks} is above the limit {limit}")]
    MaskBound { max_masks: u32, limit: u32 },
    #[error("rule has {got} fields; the table has {expected}")]
    FieldCount { expected: usize, got: usize },
    #[error("field {field}: a value or mask does not fit {width} bits")]
    ValueTooWide { field: usize, width: u32 },
    #[error("field {field}: prefix length {len} is longer than the width {width}")]
    PrefixTooLong { field: usize, len: u32, width: u32 },
    #[error("field {field}: range {lo}..={hi} is empty")]
    EmptyRange { field: usize, lo: u64, hi: u64 },
    #[error("priority {prio} is already used by another rule")]
    DuplicatePriority { prio: u32 },
    #[error("payload is {got} bytes; the table's payload is {expected}")]
    PayloadLen { expected: usize, got: usize },
    #[error("the rules need {needed} masks; the table allows {max}")]
    TooManyMasks { needed: usize, max: u32 },
    #[error("the rules need {needed} hash entries; the table allows {max}")]
    TooManyEntries { needed: u64, max: u64 },
    #[error("no rule has priority {prio}")]
    NoSuchRule { prio: u32 },
}
