//! Test environment shared by the object-writer and disassembler tests:
//! scratch dirs, bpffs pins, and the kernel gate.
#![allow(dead_code)]

/// Prints a skip notice straight to the process's stderr: libtest captures
/// `eprintln!` of passing tests, and a skipped kernel test must be loud.
#[macro_export]
macro_rules! skipped {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};


static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("nfl_test_{}_{}_{}", std::process::id(), n, tag)
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(tag));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A bpffs pin path, unlinked on drop whether the test passed or not.
pub struct Pin(pub PathBuf);

impl Pin {
    pub fn new(tag: &str) -> Pin {
        Pin(Path::new("/sys/fs/bpf").join(unique(tag)))
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub fn have_tool(tool: &str, arg: &str) -> bool {
    Command::new(tool)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

pub fn bpffs_mounted() -> bool {
    std::fs::read_to_string("/proc/mounts").is_ok_and(|m| {
        m.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/bpf") && l.contains(" bpf "))
    })
}

/// Ok if kernel tests can run; otherwise skips (returns false) or, under
/// `NFL_REQUIRE_KERNEL=1`, fails.
pub fn kernel_ready(test: &str) -> bool {
    let reason = if !is_root() {
        Some("not root")
    } else if !have_tool("bpftool", "version") {
        Some("bpftool missing")
    } else {
        if !bpffs_mounted() {
            let _ = std::fs::create_dir_all("/sys/fs/bpf");
            let _ = Command::new("mount")
                .args(["-t", "bpf", "bpf", "/sys/fs/bpf"])
                .output();
        }
        if bpffs_mounted() {
            None
        } else {
            Some("bpffs not mounted at /sys/fs/bpf")
        }
    };
    match reason {
        None => true,
        Some(reason) => {
            if std::env::var("NFL_REQUIRE_KERNEL").as_deref() == Ok("1") {
                panic!("{test}: kernel required (NFL_REQUIRE_KERNEL=1) but {reason}");
            }
            skipped!("SKIPPED (no BPF): {test}: {reason}");
            false
        }
    }
}

pub fn bpftool_ready(test: &str) -> bool {
    if have_tool("bpftool", "version") {
        return true;
    }
    if std::env::var("NFL_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("{test}: bpftool required (NFL_REQUIRE_KERNEL=1) but missing");
    }
    skipped!("SKIPPED (no BPF): {test}: bpftool missing");
    false
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
