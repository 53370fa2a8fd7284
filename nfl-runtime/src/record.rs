//! The run record `/run/nfl/<name>/state.json`: who runs what where, written
//! by `nflc run` when it starts and updated by reloads.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::attach::Hook;

/// The record's file name inside the run directory.
pub const STATE_FILE: &str = "state.json";
/// The copy of the running object inside the run directory.
pub const OBJECT_FILE: &str = "object.o";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub name: String,
    pub pid: u32,
    /// The process's start time (field 22 of `/proc/PID/stat`), so that a
    /// recycled pid is not taken for the run.
    pub pid_start: Option<u64>,
    /// The `.nf` (or object) the program came from.
    pub source: PathBuf,
    /// The program's name in the object.
    pub program: String,
    pub hook: Hook,
    pub iface: String,
    pub ifindex: u32,
    /// The network namespace the interface is in, when not the caller's.
    pub netns: Option<String>,
    /// Filled in once attached.
    pub prog_id: Option<u32>,
    pub link_id: Option<u32>,
    /// Milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    pub pin_dir: PathBuf,
    /// Maps pinned in `pin_dir`.
    pub maps: Vec<String>,
    /// How many times the program was swapped since the start.
    pub reloads: u32,
    /// The YAML config the running program was built with, if any.
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// The capability profile the program was built for (`--target`), so
    /// that a reload builds for the same one; absent means `helpers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Field 22 (`starttime`) of `/proc/<pid>/stat`.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that wrote `rec` is still alive (and is the same process).
pub fn is_alive(rec: &RunRecord) -> bool {
    let Ok(pid) = libc::pid_t::try_from(rec.pid) else { return false };
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let ret = unsafe { libc::kill(pid, 0) };
    if ret != 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EPERM) {
        return false;
    }
    match (rec.pid_start, process_start(rec.pid)) {
        (Some(want), Some(now)) => want == now,
        _ => true,
    }
}

/// Read the record in run directory `dir`; `None` when missing or unreadable.
pub fn read(dir: &Path) -> Option<RunRecord> {
    let text = std::fs::read_to_string(dir.join(STATE_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Write `bytes` to `dir/file` through a temporary file and a rename, so that a
/// reader never sees half a file.
pub fn write_atomic(dir: &Path, file: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{file}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(file)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Write `rec` as `dir/state.json`.
pub fn write(dir: &Path, rec: &RunRecord) -> io::Result<()> {
    let mut json = serde_json::to_vec_pretty(rec).map_err(io::Error::other)?;
    json.push(b'\n');
    write_atomic(dir, STATE_FILE, &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RunRecord {
        RunRecord {
            name: "f".into(),
            pid: std::process::id(),
            pid_start: process_start(std::process::id()),
            source: "examples/f.nf".into(),
            program: "f".into(),
            hook: Hook::XdpGeneric,
            iface: "eth0".into(),
            ifindex: 2,
            netns: None,
            prog_id: Some(7),
            link_id: None,
            started_unix_ms: unix_ms(),
            pin_dir: "/sys/fs/bpf/nfl/f".into(),
            maps: vec!["counts".into()],
            reloads: 0,
            config: None,
            target: None,
        }
    }

    #[test]
    fn record_round_trips_and_names_the_hook() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rec = sample();
        write(dir.path(), &rec).expect("write");
        let text = std::fs::read_to_string(dir.path().join(STATE_FILE)).expect("read");
        assert!(text.contains("\"hook\": \"xdp-generic\""), "{text}");
        assert_eq!(read(dir.path()), Some(rec));
    }

    #[test]
    fn liveness_follows_pid_and_start_time() {
        let mut rec = sample();
        assert!(rec.pid_start.is_some());
        assert!(is_alive(&rec));
        rec.pid_start = rec.pid_start.map(|s| s + 1);
        assert!(!is_alive(&rec), "a recycled pid counts as dead");
        rec.pid = i32::MAX as u32;
        rec.pid_start = None;
        assert!(!is_alive(&rec));
    }
}
