//! `nflc sketch query NAME SKETCH [KEY..]` and `nflc sketch top NAME
//! SKETCH [-n N]`: a running NF's sketch, read from its pinned maps and
//! decoded with the same hashes the program uses.

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
                SketchKind::Topk => format!("top-{}, count-min {} × {}", s.k, s.rows, s.cols),
                SketchKind::Nitro => format!("NitroSketch, {} × {}, p = 1/{}", s.rows, s.cols, 1u32 << s.sample_log2),
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

pub fn top(name: &str, sketch_name: &str, n: Option<usize>, color: bool) -> Result<ExitCode, String> {
    let nf = match RunningNf::open(name) {
        Ok(nf) => nf,
        Err(e) => {
            print_report(&e, color);
            return Ok(ExitCode::FAILURE);
        }
    };
    let k = sketch::find(&nf.schema, sketch_name).map_or(20, |s| s.k as usize);
    match sketch::top_nf(&nf, sketch_name, n.unwrap_or(k)) {
        Ok((s, top)) => {
            let by = if s.per_slots.is_empty() { "count-min estimate" } else { "distinct count" };
            println!("{}: the {} heaviest keys by {by}", s.name, top.len());
            for (i, (key, count)) in top.iter().enumerate() {
                println!("{:>4}  {:<40} {count}", i + 1, sketch::key_text(&s, key));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            print_report(&e, color);
            Ok(ExitCode::FAILURE)
        }
    }
}
