//! `nflc run --iface IF --watch`: between ticks of the live view, look at
//! the modification times of FILE and its config every few milliseconds and
//! reload (keeping state) when one changed. A build that fails keeps the
//! running program; the next change is tried again.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};


use nfl_runtime::live::Poll;

use super::reload::{compile_and_swap, print_not_reloaded, print_reloaded};

/// How often the files are looked at.
const EVERY: Duration = Duration::from_millis(2);

type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &PathBuf) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

pub struct Watcher {
    name: String,
    source: PathBuf,
    /// The config given with --config, or the implicit FILE.yaml (which may
    /// not exist yet).
    config: PathBuf,
    target: nfl_compiler::Target,
    color: bool,
    seen: Vec<Stamp>,
}

impl Watcher {
    pub fn new(name: &str, source: &std::path::Path, config: Option<PathBuf>, target: nfl_compiler::Target, color: bool) -> Watcher {
        let config = config.unwrap_or_else(|| source.with_extension("yaml"));
        let mut w = Watcher { name: name.to_string(), source: source.to_path_buf(), config, target, color, seen: Vec::new() };
        w.seen = w.stamps();
        w
    }

    fn stamps(&self) -> Vec<Stamp> {
        vec![stamp(&self.source), stamp(&self.config)]
    }
}

impl Poll for Watcher {
    fn every(&self) -> Duration {
        EVERY
    }

    fn poll(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        let now = self.stamps();
        if now == self.seen {
            return Ok(());
        }
        let changed_at = now.iter().zip(&self.seen).filter(|(a, b)| a != b).filter_map(|(a, _)| a.map(|s| s.0)).max();
        self.seen = now;
        let config = self.config.is_file().then_some(self.config.as_path());
        match compile_and_swap(&self.name, &self.source, config, self.target, self.color) {
            Ok(r) => {
                print_reloaded(&self.name, &r);
                if let Some(d) = changed_at.and_then(|t| r.report.swapped_at.duration_since(t).ok()) {
                    eprintln!("  from the file change to the new program attached: {:.1} ms", d.as_secs_f64() * 1e3);
                }
            }
            Err(why) => print_not_reloaded(&self.name, &why, self.color),
        }
        Ok(())
    }
}
