//! `nflc state dump NAME [MAP]`: the keyed state maps of a running NF, one
//! line per entry: key fields, value, and for maps with an idle timeout the
//! entry's age and whether it has expired (the run's sweep removes those).

use std::process::ExitCode;

use nfl_runtime::nf::RunningNf;
use nfl_runtime::notation;
use nfl_runtime::state_dump::{self, StateDump};

use super::run::print_report;

pub fn run(name: &str, map: Option<&str>, color: bool) -> Result<ExitCode, String> {
    match RunningNf::open(name).and_then(|nf| state_dump::dump(&nf, map)) {
        Ok(dumps) => {
            if dumps.is_empty() {
                println!("`{name}` has no state maps");
            }
            for d in &dumps {
                print!("{}", format(d));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            print_report(&e, color);
            Ok(ExitCode::FAILURE)
        }
    }
}

fn seconds(ns: u64) -> String {
    format!("{:.1}s", ns as f64 / 1e9)
}

fn format(d: &StateDump) -> String {
    let m = &d.map;
    let key: Vec<String> = m.key_widths.iter().map(|w| format!("u{w}")).collect();
    let idle = m.idle_ns.map(|ns| format!(", idle {}", seconds(ns))).unwrap_or_default();
    let mut out = format!("map {}: ({}) -> u{}{idle}, {} entries\n", m.name, key.join(", "), m.value_width, d.entries.len());
    for e in &d.entries {
        // 32-bit fields read as IPv4 addresses, 48-bit ones as MACs.
        let fields: Vec<String> = e.key.iter().zip(&m.key_widths).map(|(v, w)| notation::value("addr", *w, u128::from(*v))).collect();
        let age = match (e.age_ns, e.expired) {
            (Some(a), true) => format!("  age {}  EXPIRED", seconds(a)),
            (Some(a), false) => format!("  age {}", seconds(a)),
            _ => String::new(),
        };
        out.push_str(&format!("  ({}) = {}{age}\n", fields.join(", "), e.value));
    }
    out
}
