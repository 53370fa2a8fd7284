//! The YAML config reader: a program's declared parameters and tables (a
//! [`ConfigSchema`], built by the checker) and the text of a YAML file give
//! the [`ConfigValues`] the file sets, and E07xx diagnostics for what is
//! wrong. The format is in `docs/config.md`, the codes in
//! `docs/diagnostics-config.md`.
//!
//! Pure like the rest of the crate: the caller reads the file and adds its
//! text to the `SourceMap` under the `FileId` it passes here, so that
//! diagnostics show the YAML lines.
//!
//! - `yaml`: text to a tree of nodes with byte spans (granit-parser events).
//! - `literal`: a scalar's text to a literal (integer, address, prefix,
//!   range, mask, wildcard, bool); `fit`: a literal against a width.
//! - `reader`: shape checks (mapping, list, single value), key lookup with
//!   duplicates refused, literals for a target.
//! - `params`: the top level; `tables`, `keys`, `args`: table entries;
//!   `cli`: one entry from a command line (the control plane).

mod args;
mod cli;
mod codes;
mod fit;
mod keys;
mod literal;
mod params;
mod pools;
mod reader;
mod schema;
mod tables;
mod yaml;

use nfl_syntax::Diagnostic;
use nfl_syntax::ast::FileId;

pub use cli::{CliEntry, CliEntryValue, Piece, read_entry};
pub use schema::{
    ActionSchema, CfgType, ConfigSchema, ConfigValues, EntryValue, KeyMatch, KeySchema, MatchKind, ParamSchema, ParamValue, PoolCfgSchema,
    PoolGroups, SetItem, TableSchema,
};

/// Read the YAML `text` of file `file` against `schema`. Every independent
/// error is reported; a wrong value is left out of the result (so the
/// result is complete only when there are no errors). Never panics.
pub fn read_config(file: FileId, text: &str, schema: &ConfigSchema) -> (ConfigValues, Vec<Diagnostic>) {
    let mut r = reader::Reader::default();
    let mut values = ConfigValues::default();
    for t in &schema.tables {
        values.tables.insert(t.name.clone(), Vec::new());
    }
    if let Some(root) = yaml::parse(file, text, &mut r.diags) {
        params::read(&mut r, schema, &root, &mut values);
    }
    (values, r.diags)
}
