//! `nflc queue peek NAME QUEUE [-n N]`: a running NF's queue, read from its
//! pinned map and left as it is.

use std::process::ExitCode;

use nfl_compiler::hir::QueueKind;
use nfl_compiler::schema::QueueSchema;
use nfl_runtime::nf::RunningNf;
use nfl_runtime::queue::{self, Peek};

use super::run::print_report;

pub fn peek(name: &str, queue_name: &str, n: Option<usize>, color: bool) -> Result<ExitCode, String> {
    match RunningNf::open(name).and_then(|nf| queue::peek_nf(&nf, queue_name, n.unwrap_or(1))) {
        Ok((q, p)) => {
            print!("{}", format(&q, &p));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            print_report(&e, color);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// A summary line, then one line per element in the order they would leave.
fn format(q: &QueueSchema, p: &Peek) -> String {
    let held = match p.count {
        Some(c) => format!("{c} of {} element(s)", q.size),
        None => format!("up to {} element(s) (a queue map keeps no count)", q.size),
    };
    let shape = match q.kind {
        QueueKind::Fifo => "fifo".to_string(),
        QueueKind::Pqueue => "pqueue, binary heap".to_string(),
        QueueKind::Wheel => format!("wheel, {} slots of {} ns", q.slots, q.tick_ns),
    };
    let clock = p.clock.map_or(String::new(), |t| format!(", clock at tick {t}"));
    let mut out = format!("{}: {held}{clock}   [{shape}]\n", q.name);
    if p.elems.is_empty() {
        out.push_str("  (empty)\n");
    }
    for (i, e) in p.elems.iter().enumerate() {
        let rank = e.rank.map_or(String::new(), |r| format!("rank {r}  "));
        let due = e.due_tick.map_or(String::new(), |t| format!("due at tick {t} ({} ns)  ", u128::from(t) * u128::from(q.tick_ns)));
        out.push_str(&format!("{:>4}  {rank}{due}value {}\n", i + 1, e.value));
    }
    out
}
