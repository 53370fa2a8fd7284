//! Where a run keeps its state, and taking a name for a run.
//!
//! - `/sys/fs/bpf/nfl/<name>/`: the pinned maps and the pinned link `link`.
//! - `/run/nfl/<name>/`: the run record `state.json` and `object.o`.
//!
//! [`claim`] takes a name under a lock (`/run/nfl/.lock`, flock): if a live
//! process holds it the claim fails, if a dead one did its leftovers are removed.
//! The guards it returns remove everything again when dropped.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::record::{self, RunRecord};
use crate::run_error::RunError;

/// Pins of all runs live below this bpffs directory.
pub const PIN_ROOT: &str = "/sys/fs/bpf/nfl";
/// Run records live below this directory.
pub const RUN_ROOT: &str = "/run/nfl";
/// The link's pin inside a run's pin directory.
pub const LINK_PIN: &str = "link";

const MAX_NAME: usize = 32;

/// Whether `name` is a valid run name: `[a-z0-9_-]{1,32}`.
pub fn validate_name(name: &str) -> Result<(), RunError> {
    let ok = (1..=MAX_NAME).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(RunError::BadName(name.to_string())) }
}

/// A valid name made from a file stem: lower case, other characters as `_`,
/// at most 32 characters (`nf` for an empty stem).
pub fn name_from_stem(stem: &str) -> String {
    let name: String = stem
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' { c } else { '_' })
        .take(MAX_NAME)
        .collect();
    if name.is_empty() { "nf".to_string() } else { name }
}

pub fn pin_dir(name: &str) -> PathBuf {
    Path::new(PIN_ROOT).join(name)
}

pub fn run_dir(name: &str) -> PathBuf {
    Path::new(RUN_ROOT).join(name)
}

pub fn link_pin(name: &str) -> PathBuf {
    pin_dir(name).join(LINK_PIN)
}

/// The prefix of a map pinned under a temporary name during a reload
/// (bpffs refuses names with a `.`; no map name has a `-`).
pub const TEMP_PREFIX: &str = "new-";

/// Where a reload builds map `map` before the swap.
pub fn temp_pin(dir: &Path, map: &str) -> PathBuf {
    dir.join(format!("{TEMP_PREFIX}{map}"))
}

/// The control plane's rule lists of a run (`/run/nfl/<name>/tables/`).
pub fn tables_dir(name: &str) -> PathBuf {
    run_dir(name).join("tables")
}

/// Exclusive use of one run's maps by the control plane (table writes,
/// reloads): `flock` on `/run/nfl/<name>/.lock`, released on drop.
#[derive(Debug)]
pub struct NfLock {
    _file: File,
}

impl NfLock {
    /// Wait for the lock of run `name` (whose run directory must exist).
    pub fn acquire(name: &str) -> Result<NfLock, RunError> {
        let path = run_dir(name).join(".lock");
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path);
        let file = file.map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => RunError::NotRunning(name.to_string()),
            _ => RunError::fs("cannot open", &path)(e),
        })?;
        flock(&file, &path)?;
        Ok(NfLock { _file: file })
    }
}

fn flock(file: &File, path: &Path) -> Result<(), RunError> {
    // SAFETY: flock on an fd we own; it blocks until the lock is ours.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(RunError::fs("cannot lock", path)(io::Error::last_os_error()));
    }
    Ok(())
}

/// The maps pinned in `dir`: every pin but the link and temporary ones, sorted.
pub fn pinned_maps(dir: &Path) -> Vec<String> {
    let mut maps: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != LINK_PIN && !n.starts_with(TEMP_PREFIX) && !n.starts_with(crate::stages::PIN_PREFIX))
        .collect();
    maps.sort();
    maps
}

/// Remove every pin in `dir` (unpinning a link detaches it unless something
/// else holds it) and then `dir` itself.
fn remove_pin_dir(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let _ = std::fs::remove_file(entry.path());
    }
    let _ = std::fs::remove_dir(dir);
}

/// Exclusive use of the run table while held (`flock` on `/run/nfl/.lock`).
struct Lock {
    _file: File,
}

impl Lock {
    fn acquire() -> Result<Lock, RunError> {
        std::fs::create_dir_all(RUN_ROOT).map_err(RunError::fs("cannot create", RUN_ROOT))?;
        let path = Path::new(RUN_ROOT).join(".lock");
        let file = File::create(&path).map_err(RunError::fs("cannot open", &path))?;
        flock(&file, &path)?;
        Ok(Lock { _file: file })
    }
}

/// A run's pin directory, emptied and removed on drop.
#[derive(Debug)]
pub struct PinDir(PathBuf);

impl PinDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        remove_pin_dir(&self.0);
    }
}

/// A run's record directory, removed on drop.
#[derive(Debug)]
pub struct RunDir(PathBuf);

impl RunDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A claimed name. Drop order matters: pins go before the record, so a record
/// without pins never outlives a run that is still cleaning up.
#[derive(Debug)]
pub struct Claim {
    pub pins: PinDir,
    pub run: RunDir,
    /// What the claim had to clean up first, for the user.
    pub notes: Vec<String>,
}

/// Take `rec.name` for this process: write the record, create the pin directory.
pub fn claim(rec: &RunRecord) -> Result<Claim, RunError> {
    validate_name(&rec.name)?;
    let _lock = Lock::acquire()?;
    let (run, pins) = (run_dir(&rec.name), pin_dir(&rec.name));
    let mut notes = Vec::new();
    let old = record::read(&run);
    if let Some(old) = &old
        && record::is_alive(old)
    {
        return Err(RunError::AlreadyRunning { name: rec.name.clone(), pid: old.pid });
    }
    if run.exists() || pins.exists() {
        let who = old.map_or("an earlier run".to_string(), |o| format!("pid {}, which is gone", o.pid));
        notes.push(format!("removed the stale pins of `{}` left by {who}", rec.name));
        remove_pin_dir(&pins);
        let _ = std::fs::remove_dir_all(&run);
    }
    std::fs::create_dir(&run).map_err(RunError::fs("cannot create", &run))?;
    let run = RunDir(run);
    record::write(run.path(), rec).map_err(RunError::fs("cannot write the run record in", run.path()))?;
    crate::kernel::ensure_bpffs().map_err(|e| RunError::fs("bpffs", crate::kernel::BPFFS_PATH)(io::Error::other(e)))?;
    std::fs::create_dir_all(PIN_ROOT).map_err(RunError::fs("cannot create", PIN_ROOT))?;
    std::fs::create_dir(&pins).map_err(RunError::fs("cannot create", &pins))?;
    Ok(Claim { pins: PinDir(pins), run, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for ok in ["a", "static_filter", "x-1", &"a".repeat(32)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "a.b", "a/b", "..", &"a".repeat(33), "é"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stems_become_valid_names() {
        assert_eq!(name_from_stem("static_filter"), "static_filter");
        assert_eq!(name_from_stem("My.Filter v2"), "my_filter_v2");
        assert_eq!(name_from_stem(""), "nf");
        assert_eq!(name_from_stem(&"x".repeat(40)).len(), 32);
        for s in ["Ünïcode", "a b", "../x"] {
            assert!(validate_name(&name_from_stem(s)).is_ok(), "{s}");
        }
    }
}
