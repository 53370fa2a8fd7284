//! The tcpdump corpus (`../shared/corpus/tcpdump`, or `NFL_CORPUS`).

use std::path::PathBuf;

use nfl_runtime::pcap::Capture;

use super::root;

/// The largest frame the kernel's XDP test run takes in one buffer.
pub const XDP_SINGLE_BUFFER_MAX: usize = 4096 - 256 - 320;

pub fn corpus_dir() -> PathBuf {
    std::env::var_os("NFL_CORPUS").map(PathBuf::from).unwrap_or_else(|| root().join("../shared/corpus/tcpdump"))
}

/// Every readable Ethernet capture of the corpus, sorted by path; empty
/// (with a loud line) when the corpus is missing outside CI.
pub fn ethernet_captures() -> Vec<(PathBuf, Capture)> {
    let dir = corpus_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        // The corpus lives outside the repository; CI always has it.
        assert!(std::env::var_os("CI").is_none(), "corpus missing at {}", dir.display());
        eprintln!("=== SKIPPED corpus test: no corpus at {} ===", dir.display());
        return Vec::new();
    };
    let mut pcaps: Vec<PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "pcap")).collect();
    pcaps.sort();
    let caps: Vec<(PathBuf, Capture)> = pcaps
        .into_iter()
        .filter_map(|p| nfl_runtime::pcap::read_pcap(&p).ok().filter(Capture::is_ethernet).map(|c| (p, c)))
        .collect();
    assert!(caps.len() >= 100, "only {} Ethernet captures found in {}", caps.len(), dir.display());
    caps
}
