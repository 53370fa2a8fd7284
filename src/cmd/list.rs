//! `nflc list`: the NFs recorded under /run/nfl, whether their process is
//! still alive, and where they run.

use std::process::ExitCode;

pub fn run() -> Result<ExitCode, String> {
    let runs = nfl_runtime::run::list_running();
    if runs.is_empty() {
        println!("nothing is running");
    }
    for r in &runs {
        let rec = &r.record;
        let state = if r.alive { format!("pid {}", r.pid) } else { format!("STALE (pid {} is gone)", r.pid) };
        let prog = rec.prog_id.map_or("-".to_string(), |p| p.to_string());
        println!(
            "{:20}  {state}  {} on {}  prog {prog}  {} reload(s)  {}",
            r.name,
            rec.hook,
            rec.iface,
            rec.reloads,
            rec.source.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
