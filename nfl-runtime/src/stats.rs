//! `nflc stats`: a running NF's counters (summed over CPUs), its tables'
//! hit and miss counts, and its program's run count, all read from pins.

use std::os::fd::AsFd;

use nfl_compiler::schema::Schema;

use crate::bpfsys;
use crate::cp_error::ControlError;
use crate::live::ProgStats;
use crate::mapops;
use crate::nf::RunningNf;
use crate::state::MapSet;
use crate::table_ops::hits_misses;

/// One cell of a counter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterCell {
    pub counter: String,
    /// `None` for a counter without index (`counter total`).
    pub index: Option<u32>,
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableStats {
    pub table: String,
    pub hits: u64,
    pub misses: u64,
}

impl TableStats {
    /// Hits per lookup, in percent; `None` before the first lookup.
    pub fn hit_rate(&self) -> Option<f64> {
        let all = self.hits + self.misses;
        (all > 0).then(|| self.hits as f64 * 100.0 / all as f64)
    }
}

#[derive(Clone, Debug, Default)]
pub struct NfStats {
    pub counters: Vec<CounterCell>,
    pub tables: Vec<TableStats>,
    /// The attached program's run counters (0 while kernel statistics are off).
    pub prog: Option<ProgStats>,
}

/// Counters with more cells than this show only the cells that counted.
const ALL_CELLS_UP_TO: u32 = 64;

/// Every counter cell (all of them for small counters, else those that counted).
pub fn counters(maps: &MapSet, schema: &Schema) -> Vec<CounterCell> {
    let mut out = Vec::new();
    for c in &schema.counters {
        let Ok(h) = maps.get(&c.name) else { continue };
        for i in 0..c.size {
            let v = mapops::lookup(h.fd(), h.shape, &i.to_le_bytes()).ok().flatten().unwrap_or_default();
            let (packets, bytes) = (mapops::sum_per_cpu_u64(h.shape, &v, 0), mapops::sum_per_cpu_u64(h.shape, &v, 8));
            if c.size <= ALL_CELLS_UP_TO || packets != 0 || bytes != 0 {
                let index = (c.size > 1).then_some(i);
                out.push(CounterCell { counter: c.name.clone(), index, packets, bytes });
            }
        }
    }
    out
}

/// Hit and miss counts of every table.
pub fn tables(maps: &MapSet, schema: &Schema) -> Vec<TableStats> {
    schema
        .tables
        .iter()
        .map(|t| {
            let (hits, misses) = hits_misses(maps, t);
            TableStats { table: t.name.clone(), hits, misses }
        })
        .collect()
}

/// The run counters of the program the pinned link of run `name` runs now.
pub fn prog_stats(name: &str) -> Option<ProgStats> {
    let link = bpfsys::obj_get(&crate::pins::link_pin(name)).ok()?;
    let info = bpfsys::link_info(link.as_fd()).ok()?;
    let prog = bpfsys::prog_fd_by_id(info.prog_id).ok()?;
    let p = bpfsys::prog_info(prog.as_fd()).ok()?;
    Some(ProgStats { prog_id: p.id, run_cnt: p.run_cnt, run_time_ns: p.run_time_ns })
}

/// `nflc stats NAME`.
pub fn read(nf: &RunningNf) -> Result<NfStats, ControlError> {
    let maps = nf.maps()?;
    Ok(NfStats { counters: counters(&maps, &nf.schema), tables: tables(&maps, &nf.schema), prog: prog_stats(&nf.name) })
}

impl CounterCell {
    /// `hits[2]`, or `total`.
    pub fn label(&self) -> String {
        match self.index {
            Some(i) => format!("{}[{i}]", self.counter),
            None => self.counter.clone(),
        }
    }
}
