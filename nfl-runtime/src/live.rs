//! The live view of a running NF: once a second every [`LiveView`] gets a
//! [`Tick`] and writes what it wants to show.
//!
//! The built-in [`ProgStatsView`] shows the program's run count and average run
//! time (kernel run-time statistics, enabled only while a run lasts). Views for
//! counters and table hits read the run's pinned maps
//! (`tick.info.pin_dir.join(map)`), which survive reloads, or the loaded object
//! (`tick.prog`) for maps the program does not pin.

use std::io::{self, Write};
use std::time::Duration;

use crate::load::LoadedProgram;
use crate::record::RunRecord;

/// A program's counters from `bpf_prog_info`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgStats {
    /// The program the link runs now (changes with every reload).
    pub prog_id: u32,
    pub run_cnt: u64,
    pub run_time_ns: u64,
}

/// One beat of the live view.
pub struct Tick<'a> {
    /// 1 for the first tick.
    pub n: u64,
    /// Since the program was attached.
    pub elapsed: Duration,
    /// The attached program's counters now, and at the previous tick.
    pub stats: Option<ProgStats>,
    pub prev: Option<ProgStats>,
    pub info: &'a RunRecord,
    /// The program as this process loaded it (a reload by another process
    /// swaps the attached program but not this one).
    pub prog: &'a LoadedProgram,
}

impl Tick<'_> {
    /// Runs since the previous tick (all runs at the first tick, 0 after a reload).
    pub fn new_runs(&self) -> u64 {
        match (self.stats, self.prev) {
            (Some(now), Some(prev)) if now.prog_id == prev.prog_id => now.run_cnt.saturating_sub(prev.run_cnt),
            (Some(now), None) => now.run_cnt,
            _ => 0,
        }
    }
}

/// Something that shows a part of a running NF. Views write whole lines.
pub trait LiveView {
    /// Called once, before the first tick.
    fn header(&mut self, _info: &RunRecord, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    /// Called once a second.
    fn tick(&mut self, tick: &Tick<'_>, out: &mut dyn Write) -> io::Result<()>;
}

/// Work done between ticks of the live view (`nflc run --watch` looks for
/// changed files), every [`Poll::every`].
pub trait Poll {
    fn every(&self) -> Duration;
    fn poll(&mut self, out: &mut dyn Write) -> io::Result<()>;
}

/// Program runs, runs per second and average nanoseconds per run.
#[derive(Debug, Default)]
pub struct ProgStatsView;

impl LiveView for ProgStatsView {
    fn header(&mut self, _info: &RunRecord, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{:>6}  {:>8}  {:>12}  {:>10}  {:>8}", "time", "prog", "runs", "runs/s", "ns/run")
    }

    fn tick(&mut self, tick: &Tick<'_>, out: &mut dyn Write) -> io::Result<()> {
        let Some(now) = tick.stats else {
            return writeln!(out, "{:>5}s  (no statistics: the link is gone)", tick.elapsed.as_secs());
        };
        let avg = now.run_time_ns.checked_div(now.run_cnt).unwrap_or(0);
        let reloaded = tick.prev.is_some_and(|p| p.prog_id != now.prog_id);
        writeln!(
            out,
            "{:>5}s  {:>8}  {:>12}  {:>10}  {:>8}{}",
            tick.elapsed.as_secs(),
            now.prog_id,
            now.run_cnt,
            tick.new_runs(),
            avg,
            if reloaded { "  (reloaded)" } else { "" }
        )
    }
}
