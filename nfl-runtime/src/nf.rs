//! A running NF as the control plane sees it from any process: its run
//! record, the schema of the object it runs now (`/run/nfl/<name>/object.o`,
//! which reloads replace) and its pinned maps.

use std::path::PathBuf;

use nfl_compiler::schema::Schema;
use nfl_compiler::table::TableLayout;

use crate::cp_error::{ControlError, SCHEMA_HELP};
use crate::pins::{self, NfLock};
use crate::record::{self, RunRecord};
use crate::run_error::RunError;
use crate::state::MapSet;

pub struct RunningNf {
    pub name: String,
    pub record: RunRecord,
    pub schema: Schema,
    pub pin_dir: PathBuf,
}

impl RunningNf {
    /// The run `name`: E0807 when nothing of that name is attached.
    pub fn open(name: &str) -> Result<RunningNf, ControlError> {
        pins::validate_name(name)?;
        let run = pins::run_dir(name);
        let not_running = || ControlError::Run(RunError::NotRunning(name.to_string()));
        let record = record::read(&run).ok_or_else(not_running)?;
        if !pins::link_pin(name).exists() {
            return Err(not_running());
        }
        let object = std::fs::read(run.join(record::OBJECT_FILE)).map_err(RunError::fs("cannot read", run.join(record::OBJECT_FILE)))?;
        let schema = schema_of(name, &object)?;
        Ok(RunningNf { name: name.to_string(), pin_dir: pins::pin_dir(name), record, schema })
    }

    /// The control plane's lock on this run.
    pub fn lock(&self) -> Result<NfLock, ControlError> {
        Ok(NfLock::acquire(&self.name)?)
    }

    /// Every map of the running program, from its pins.
    pub fn maps(&self) -> Result<MapSet, ControlError> {
        MapSet::from_pins(&self.pin_dir, &self.schema).map_err(ControlError::state(&self.name))
    }

    /// Table `table`, or E0820 with the tables there are.
    pub fn table(&self, table: &str) -> Result<&TableLayout, ControlError> {
        self.schema.table(table).ok_or_else(|| ControlError::UnknownTable {
            nf: self.name.clone(),
            table: table.to_string(),
            help: suggest(table, "tables", self.schema.tables.iter().map(|t| t.name.as_str())),
        })
    }
}

/// The schema of an object, or E0832.
pub fn schema_of(nf: &str, object: &[u8]) -> Result<Schema, ControlError> {
    let schema_error = |message: String| ControlError::Schema { nf: nf.to_string(), message, help: SCHEMA_HELP.into() };
    Schema::from_object(object).map_err(schema_error)?.ok_or_else(|| schema_error("its object has no schema".into()))
}

/// `did you mean `x`?`, or the list of candidates.
pub fn suggest<'a>(name: &str, what: &str, candidates: impl Iterator<Item = &'a str> + Clone) -> String {
    let close = candidates.clone().min_by_key(|c| distance(name, c)).filter(|c| distance(name, c) <= name.len().max(2) / 3 + 1);
    if let Some(c) = close {
        return format!("did you mean `{c}`?");
    }
    let all: Vec<String> = candidates.map(|c| format!("`{c}`")).collect();
    if all.is_empty() { format!("there are no {what}") } else { format!("the {what} are {}", all.join(", ")) }
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("acl2", "tables", ["acl", "blocklist"].into_iter()), "did you mean `acl`?");
        assert_eq!(suggest("zzzzzz", "tables", ["acl", "blocklist"].into_iter()), "the tables are `acl`, `blocklist`");
        assert_eq!(suggest("x", "tables", [].into_iter()), "there are no tables");
    }
}
