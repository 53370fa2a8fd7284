//! `nflc stats NAME`: a running NF's counters (summed over CPUs), its tables'
//! hit and miss counts and hit rates, and its program's run count, from pins.

use std::process::ExitCode;
use std::time::Instant;

use nfl_runtime::nf::RunningNf;
use nfl_runtime::stats::{self, NfStats};

use super::run::print_report;

pub fn run(name: &str, color: bool) -> Result<ExitCode, String> {
    let started = Instant::now();
    match RunningNf::open(name).and_then(|nf| Ok((stats::read(&nf)?, nf))) {
        Ok((s, nf)) => {
            print!("{}", format(&nf, &s));
            eprintln!("read in {:.2} ms", started.elapsed().as_secs_f64() * 1e3);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            print_report(&e, color);
            Ok(ExitCode::FAILURE)
        }
    }
}

fn format(nf: &RunningNf, s: &NfStats) -> String {
    let r = &nf.record;
    let mut out = format!("{} ({} on {}, {} reload(s))\n", nf.name, r.hook, r.iface, r.reloads);
    match s.prog {
        Some(p) => {
            let avg = p.run_time_ns.checked_div(p.run_cnt).unwrap_or(0);
            out.push_str(&format!("program {}: {} runs, {avg} ns/run\n", p.prog_id, p.run_cnt));
        }
        None => out.push_str("program: no run statistics (the link is gone?)\n"),
    }
    if !s.counters.is_empty() {
        out.push_str("counters:\n");
    }
    let width = s.counters.iter().map(|c| c.label().len()).max().unwrap_or(0);
    for c in &s.counters {
        out.push_str(&format!("  {:width$}  packets {:>12}  bytes {:>14}\n", c.label(), c.packets, c.bytes));
    }
    if !s.tables.is_empty() {
        out.push_str("tables:\n");
    }
    let width = s.tables.iter().map(|t| t.table.len()).max().unwrap_or(0);
    for t in &s.tables {
        let rate = t.hit_rate().map_or("-".to_string(), |r| format!("{r:.1}%"));
        out.push_str(&format!("  {:width$}  hits {:>12}  misses {:>12}  hit rate {rate}\n", t.table, t.hits, t.misses));
    }
    out
}
