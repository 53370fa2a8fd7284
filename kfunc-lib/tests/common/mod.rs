//! Shared by the tests that need host tools (gcc, make, kernel headers).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The crate directory (`kfunc-lib/`).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A missing prerequisite: fails under `NFL_REQUIRE_KERNEL=1` (CI), else
/// prints a loud `SKIPPED: <what>` line to stderr; the caller returns.
pub fn missing(test: &str, what: &str) {
    if std::env::var("NFL_REQUIRE_KERNEL").is_ok_and(|v| v == "1") {
        panic!("{test}: NFL_REQUIRE_KERNEL=1 but {what}");
    }
    eprintln!("SKIPPED: {what} [{test}]");
}

/// Whether `tool --version` runs.
pub fn have_tool(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The kernel build tree: `$KDIR` (if it has a Makefile; set but empty
/// counts as missing), else the running kernel's
/// `/lib/modules/$(uname -r)/build`, else the newest
/// `/usr/src/linux-headers-*-amd64` (as module/Makefile chooses).
pub fn kdir() -> Option<PathBuf> {
    if let Some(k) = std::env::var_os("KDIR") {
        let k = PathBuf::from(k);
        return k.join("Makefile").is_file().then_some(k);
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let running = Path::new("/lib/modules").join(release.trim()).join("build");
    if running.join("Makefile").is_file() {
        return Some(running);
    }
    let mut trees: Vec<PathBuf> = std::fs::read_dir("/usr/src")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("linux-headers-") && name.ends_with("-amd64")
        })
        .filter(|p| p.join("Makefile").is_file())
        .collect();
    trees.sort();
    trees.pop()
}

/// Copies the module sources (not build artefacts) into `dest`.
pub fn copy_module_sources(dest: &Path) {
    for f in ["nfl_kfuncs.c", "nfl_algos.h", "Kbuild", "Makefile"] {
        std::fs::copy(crate_dir().join("module").join(f), dest.join(f))
            .unwrap_or_else(|e| panic!("copy module/{f}: {e}"));
    }
}

/// The kfunc names registered by the module, in `BTF_ID_FLAGS` order.
pub fn registered_kfuncs() -> Vec<String> {
    let src = std::fs::read_to_string(crate_dir().join("module/nfl_kfuncs.c")).unwrap();
    src.lines()
        .filter_map(|l| l.trim().strip_prefix("BTF_ID_FLAGS(func, "))
        .map(|rest| rest.trim_end_matches(')').to_string())
        .collect()
}
