//! Measuring helpers shared by the benchmarks (`bench/compare.rs`,
//! `bench/tables_bench.rs`): medians, interquartile means, timing,
//! loading with the verifier's log on failure, test runs, stack depth of a
//! clang object.
#![allow(dead_code)]

use std::path::Path;
use std::time::Instant;

use nfl_runtime::LoadedProgram;

pub fn median(v: &mut [f64]) -> f64 {
    assert!(!v.is_empty());
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The value below which `p` percent of `v` lie (nearest rank).
pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    assert!(!v.is_empty());
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The mean of the middle half of `v` (interquartile mean).
pub fn iqm(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let (lo, hi) = if n >= 4 { (n / 4, n - n / 4) } else { (0, n) };
    v[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
}

pub fn ms(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e3
}

pub fn load(obj: &[u8], what: &str) -> LoadedProgram {
    try_load(obj).unwrap_or_else(|e| panic!("{what}: load failed: {e}"))
}

/// Load, or the error with the end of the verifier's log.
pub fn try_load(obj: &[u8]) -> Result<LoadedProgram, String> {
    nfl_runtime::load(obj, None).map_err(|e| {
        format!(
            "{e}\n{}",
            e.verifier_log()
                .map(nfl_runtime::trim_verifier_log)
                .unwrap_or_default()
        )
    })
}

/// Stack bytes of a clang object: the deepest `(r10 - N)` in its disassembly.
pub fn c_stack_bytes(obj: &Path) -> Option<u32> {
    let out = std::process::Command::new("llvm-objdump")
        .arg("-d")
        .arg(obj)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut deepest = 0;
    for piece in text.split("r10 - ").skip(1) {
        let digits: String = piece.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse::<u32>() {
            deepest = deepest.max(n);
        }
    }
    Some(deepest)
}

/// One test run: the kernel's mean ns per repetition.
pub fn run_once(prog: &LoadedProgram, pkt: &[u8], repeat: u32, want: u32, what: &str) -> f64 {
    let r = nfl_runtime::test_run(prog.fd(), pkt, repeat).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(r.retval, want, "{what}: wrong verdict");
    f64::from(r.duration_ns)
}

/// The rounds of one program on one packet: (median, interquartile mean).
#[derive(Default)]
pub struct Timing(pub Vec<f64>);

impl Timing {
    pub fn push(&mut self, ns: f64) {
        self.0.push(ns);
    }
    pub fn summary(&mut self) -> (f64, f64) {
        (median(&mut self.0), iqm(&mut self.0))
    }
    /// Spread of the rounds: (min, max).
    pub fn range(&self) -> (f64, f64) {
        self.0.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
    }
}

pub fn opt(v: Option<u32>) -> String {
    v.map_or_else(|| "n/a".to_string(), |n| n.to_string())
}

/// Who built a measured program: nflc, or clang from a C twin with its
/// default CPU or `-mcpu=v3`.
#[derive(Clone, Copy, PartialEq)]
pub enum Who {
    Nflc,
    C,
    CV3,
}

impl Who {
    pub fn label(self) -> &'static str {
        match self {
            Who::Nflc => "nflc",
            Who::C => "C",
            Who::CV3 => "C -mcpu=v3",
        }
    }
}
