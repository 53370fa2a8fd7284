//! The live views of an nflc program (`nflc run --iface`), next to
//! [`crate::live::ProgStatsView`]: counters with their rates, table hit
//! rates, and the sweep of expired idle entries. All read the run's pins
//! and the schema of the object it runs now, so they follow reloads made by
//! any process.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use nfl_compiler::schema::Schema;

use crate::live::{LiveView, Tick};
use crate::pins;
use crate::record;
use crate::state::MapSet;

/// The schema and maps of what run `name` runs now, re-read when a reload
/// replaces its object copy.
pub struct CurrentNf {
    name: String,
    seen: Option<(SystemTime, u64)>,
    now: Option<(Schema, MapSet)>,
}

impl CurrentNf {
    pub fn new(name: &str) -> CurrentNf {
        CurrentNf { name: name.to_string(), seen: None, now: None }
    }

    /// The current schema and maps; `None` for an object without a schema.
    pub fn get(&mut self) -> Option<&(Schema, MapSet)> {
        let path = pins::run_dir(&self.name).join(record::OBJECT_FILE);
        let meta = std::fs::metadata(&path).ok()?;
        let stamp = (meta.modified().ok()?, meta.len());
        if self.seen != Some(stamp) {
            self.seen = Some(stamp);
            let schema = std::fs::read(&path).ok().and_then(|o| Schema::from_object(&o).ok().flatten());
            self.now = schema.and_then(|s| MapSet::from_pins(&pins::pin_dir(&self.name), &s).ok().map(|m| (s, m)));
        }
        self.now.as_ref()
    }

    /// Forget what was read, so the next [`CurrentNf::get`] reads again.
    pub fn refresh(&mut self) {
        self.seen = None;
    }
}

/// Values seen at the previous tick, for per-second rates.
#[derive(Default)]
struct Rates {
    prev: BTreeMap<String, u64>,
    at: Duration,
}

impl Rates {
    /// The rate of each `(key, value)` since the last tick; remembers them.
    fn per_second(&mut self, now: &[(String, u64)], elapsed: Duration) -> Vec<u64> {
        let secs = elapsed.saturating_sub(self.at).as_secs_f64().max(1e-3);
        let rates = now.iter().map(|(k, v)| self.prev.get(k).map_or(0, |b| (v.saturating_sub(*b) as f64 / secs).round() as u64)).collect();
        self.prev = now.iter().cloned().collect();
        self.at = elapsed;
        rates
    }
}

/// Every counter cell that has counted: packets, packets per second, bytes.
pub struct CounterView {
    nf: CurrentNf,
    rates: Rates,
}

impl CounterView {
    pub fn new(name: &str) -> CounterView {
        CounterView { nf: CurrentNf::new(name), rates: Rates::default() }
    }
}

impl LiveView for CounterView {
    fn tick(&mut self, tick: &Tick<'_>, out: &mut dyn Write) -> io::Result<()> {
        let Some((schema, maps)) = self.nf.get() else { return Ok(()) };
        let cells: Vec<_> = crate::stats::counters(maps, schema).into_iter().filter(|c| c.packets > 0).collect();
        if cells.is_empty() {
            return Ok(());
        }
        let now: Vec<(String, u64)> = cells.iter().map(|c| (c.label(), c.packets)).collect();
        let rates = self.rates.per_second(&now, tick.elapsed);
        let shown: Vec<String> = cells.iter().zip(rates).map(|(c, r)| format!("{} {} ({r}/s, {} B)", c.label(), c.packets, c.bytes)).collect();
        writeln!(out, "{:>5}s  counters: {}", tick.elapsed.as_secs(), shown.join("  "))
    }
}

/// Each table's hit rate and lookups per second.
pub struct TableView {
    nf: CurrentNf,
    rates: Rates,
}

impl TableView {
    pub fn new(name: &str) -> TableView {
        TableView { nf: CurrentNf::new(name), rates: Rates::default() }
    }
}

impl LiveView for TableView {
    fn tick(&mut self, tick: &Tick<'_>, out: &mut dyn Write) -> io::Result<()> {
        let Some((schema, maps)) = self.nf.get() else { return Ok(()) };
        let tables = crate::stats::tables(maps, schema);
        if tables.is_empty() {
            return Ok(());
        }
        let now: Vec<(String, u64)> = tables.iter().map(|t| (t.table.clone(), t.hits + t.misses)).collect();
        let rates = self.rates.per_second(&now, tick.elapsed);
        let shown: Vec<String> = tables
            .iter()
            .zip(rates)
            .map(|(t, r)| {
                let hit = t.hit_rate().map_or("-".to_string(), |p| format!("{p:.1}%"));
                format!("{} {hit} hit of {} ({r}/s)", t.table, t.hits + t.misses)
            })
            .collect();
        writeln!(out, "{:>5}s  tables: {}", tick.elapsed.as_secs(), shown.join("  "))
    }
}

/// Deletes expired entries of idle maps once a tick, and says so when it did.
pub struct SweepView {
    nf: CurrentNf,
}

impl SweepView {
    pub fn new(name: &str) -> SweepView {
        SweepView { nf: CurrentNf::new(name) }
    }
}

impl LiveView for SweepView {
    fn tick(&mut self, tick: &Tick<'_>, out: &mut dyn Write) -> io::Result<()> {
        let Some((schema, maps)) = self.nf.get() else { return Ok(()) };
        let swept = match crate::state_dump::sweep(maps, schema) {
            Ok(s) => s,
            Err(e) => {
                self.nf.refresh();
                return writeln!(out, "{:>5}s  sweep failed: {e}", tick.elapsed.as_secs());
            }
        };
        let shown: Vec<String> = swept.iter().filter(|(_, n)| *n > 0).map(|(m, n)| format!("{m} {n}")).collect();
        if shown.is_empty() {
            return Ok(());
        }
        writeln!(out, "{:>5}s  expired entries removed: {}", tick.elapsed.as_secs(), shown.join(", "))
    }
}

/// The heaviest keys of every top-k sketch (at most 5 each, in `k` order).
pub struct TopView {
    nf: CurrentNf,
}

impl TopView {
    pub fn new(name: &str) -> TopView {
        TopView { nf: CurrentNf::new(name) }
    }
}

/// Shown per top-k sketch in the live view (`nflc sketch top` gives all `k`).
const LIVE_TOP: usize = 5;

impl LiveView for TopView {
    fn tick(&mut self, tick: &Tick<'_>, out: &mut dyn Write) -> io::Result<()> {
        let Some((schema, maps)) = self.nf.get() else { return Ok(()) };
        for s in schema.sketches.iter().filter(|s| s.kind == nfl_compiler::hir::SketchKind::Topk) {
            let Ok(top) = crate::sketch::top(maps, s, LIVE_TOP.min(s.k as usize)) else { continue };
            if top.is_empty() {
                continue;
            }
            let shown: Vec<String> = top.iter().map(|(k, c)| format!("{} {c}", crate::sketch::key_text(s, k))).collect();
            writeln!(out, "{:>5}s  top {}: {}", tick.elapsed.as_secs(), s.name, shown.join("  "))?;
        }
        Ok(())
    }
}

/// The views `nflc run --iface` shows for run `name` after the program's own.
pub fn nf_views(name: &str) -> Vec<Box<dyn LiveView>> {
    vec![Box::new(CounterView::new(name)), Box::new(TableView::new(name)), Box::new(TopView::new(name)), Box::new(SweepView::new(name))]
}
