//! Time `nfl_syntax::parse`:
//! `cargo run --release -p nfl-syntax --example time -- [--runs N] FILE...`.
//! Each run parses every file once; prints the median and the fastest run
//! (default 200 runs) and the number of diagnostics.

use std::time::{Duration, Instant};

use nfl_syntax::ast::FileId;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 200usize;
    if args.first().is_some_and(|a| a == "--runs") {
        runs = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(runs).max(1);
        args.drain(..2.min(args.len()));
    }
    if args.is_empty() {
        eprintln!("usage: time [--runs N] FILE.nf...");
        std::process::exit(2);
    }
    let mut texts = Vec::new();
    for path in &args {
        match std::fs::read_to_string(path) {
            Ok(t) => texts.push(t),
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(2);
            }
        }
    }
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    let mut n_diags = 0;
    for _ in 0..runs {
        n_diags = 0;
        let start = Instant::now();
        for text in &texts {
            let (module, diags) = nfl_syntax::parse(FileId(0), text);
            n_diags += diags.len();
            std::hint::black_box(module);
        }
        times.push(start.elapsed());
    }
    times.sort_unstable();
    let median = times.get(runs / 2).copied().unwrap_or_default();
    let fastest = times.first().copied().unwrap_or_default();
    let bytes: usize = texts.iter().map(String::len).sum();
    let what = if args.len() == 1 { args[0].clone() } else { format!("{} files", args.len()) };
    println!("{what}: {bytes} bytes, {n_diags} diagnostics; per run: median {median:?}, fastest {fastest:?} ({runs} runs)");
}
