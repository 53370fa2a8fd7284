//! `nflc sketch query NAME SKETCH [KEY..]`: a running NF's sketch, read
//! from its pinned map and decoded with the same hashes the program uses.

use std::process::ExitCode;

use nfl_compiler::hir::SketchKind;
use nfl_runtime::nf::RunningNf;
use nfl_runtime::sketch::{self, Answer};

use super::run::print_report;

pub fn query(name: &str, sketch_name: &str, key: &[String], color: bool) -> Result<ExitCode, String> {
    match RunningNf::open(name).and_then(|nf| sketch::query_nf(&nf, sketch_name, key)) {
        Ok((s, answer)) => {
            let shape = match s.kind {
                SketchKind::CountMin => format!("count-min, {} × {}", s.rows, s.cols),
                SketchKind::CountSketch => format!("count sketch, {} × {}", s.rows, s.cols),
                SketchKind::Bloom => format!("Bloom filter, {} bits, {} hashes", s.cols, s.rows),
                SketchKind::Hyperloglog => format!("HyperLogLog, p = {}", s.cols.trailing_zeros()),
            };
            let what = match answer {
                Answer::Count(_) | Answer::Signed(_) => "estimate",
                Answer::Present(_) => "membership",
                Answer::Distinct(_) => "cardinality",
            };
            let key = if key.is_empty() { String::new() } else { format!(" ({})", key.join(", ")) };
            println!("{}{key}: {what} {answer}   [{shape}]", s.name);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            print_report(&e, color);
            Ok(ExitCode::FAILURE)
        }
    }
}
