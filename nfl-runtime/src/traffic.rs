//! A bounded burst of real frames through an attached NF, one frame at a time,
//! and what became of each: passed (seen past the NF on the receiving end),
//! bounced (seen coming back on the sending end, as after `tx`), dropped (the
//! program ran, nothing came out), or unseen (the program never ran on it).
//!
//! Frames go one by one: after each send the driver waits until the program's
//! run count moves (kernel run-time statistics), then a short settle time for
//! the frame to show up somewhere, so that every observation belongs to one
//! frame. Anything seen outside a frame's window is counted as stray.

use std::time::{Duration, Instant};

use crate::load::ProgramKind;
use crate::packet::{PacketSocket, wait_readable};
use crate::pcap::Capture;
use crate::signal::StopFlag;
use crate::testfile::{Case, Expect, Verdict, verdict_from_retval};

pub use crate::burst_report::{BurstReport, Counts, Fate, FrameReport};
use crate::burst_report::check;

/// What can be seen of a frame from outside the NF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Bounced,
    Dropped,
}

impl Outcome {
    /// What a verdict looks like from outside; `None` for a redirect, which
    /// may end anywhere.
    pub fn of_verdict(v: Verdict) -> Option<Outcome> {
        match v {
            Verdict::Pass => Some(Outcome::Passed),
            Verdict::Tx => Some(Outcome::Bounced),
            Verdict::Drop | Verdict::Abort => Some(Outcome::Dropped),
            Verdict::Redirect => None,
        }
    }
}

/// What a frame from a `.test` case should do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// The verdict as the case states it, for the report.
    pub verdict: String,
    /// `None` when the verdict cannot be seen from outside (redirect).
    pub outcome: Option<Outcome>,
    /// The bytes that must come out, when the case gives them.
    pub output: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub label: String,
    pub bytes: Vec<u8>,
    pub expect: Option<Expectation>,
}

/// The `in:` packets of `.test` cases, with what each expects at a `kind` hook.
pub fn frames_from_cases(cases: &[Case], kind: ProgramKind) -> Vec<Frame> {
    cases
        .iter()
        .map(|c| {
            let (verdict, v) = match c.expect {
                Expect::Verdict(v) => (v.name().to_string(), Some(v)),
                Expect::Retval(n) => (format!("retval {n}"), verdict_from_retval(kind, n)),
            };
            let outcome = v.and_then(Outcome::of_verdict);
            let expect = Expectation { verdict, outcome, output: c.output.clone() };
            Frame { label: c.name.clone(), bytes: c.input.clone(), expect: Some(expect) }
        })
        .collect()
}

/// The frames of an Ethernet capture, without expectations.
pub fn frames_from_capture(cap: &Capture) -> Vec<Frame> {
    let frames = cap.frames.iter().enumerate();
    frames.map(|(i, f)| Frame { label: format!("frame {} ({} bytes)", i + 1, f.len()), bytes: f.clone(), expect: None }).collect()
}

/// Bounds of a burst.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_frames: usize,
    pub max_time: Duration,
    /// How long the program may take to run on a frame before it counts as unseen.
    pub run_wait: Duration,
    /// How long to wait for a frame to show up once the program ran on it.
    pub settle: Duration,
    /// The settle time when run counts are not available.
    pub settle_blind: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_frames: 10_000,
            max_time: Duration::from_secs(30),
            run_wait: Duration::from_millis(200),
            settle: Duration::from_millis(3),
            settle_blind: Duration::from_millis(25),
        }
    }
}

/// Where frames go in and where they come out.
pub struct Taps {
    pub send: PacketSocket,
    /// Past the NF on the receiving end.
    pub passed: Vec<PacketSocket>,
    /// Coming back on the sending end.
    pub bounced: PacketSocket,
}

impl Taps {
    fn all_out(&self) -> Vec<&PacketSocket> {
        self.passed.iter().chain([&self.bounced]).collect()
    }

    /// Frames waiting on the passed and the bounced side.
    fn collect(&self) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let passed = self.passed.iter().flat_map(|s| s.drain().unwrap_or_default()).collect();
        (passed, self.bounced.drain().unwrap_or_default())
    }

    /// The first frames to show up within `settle`, and whatever came with them.
    fn collect_within(&self, settle: Duration) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let end = Instant::now() + settle;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let _ = wait_readable(&self.all_out(), left);
            let (p, b) = self.collect();
            if !p.is_empty() || !b.is_empty() || left.is_zero() {
                return (p, b);
            }
        }
    }
}

/// Wait until the run count passes `before`, at most `limit`.
fn wait_for_run(runs: &dyn Fn() -> Option<u64>, before: u64, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        if runs().is_some_and(|n| n > before) {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// Send one frame and see where it ends up.
fn one_frame(taps: &Taps, frame: &Frame, runs: &dyn Fn() -> Option<u64>, limits: &Limits, stray: &mut usize) -> Fate {
    let before = runs();
    if let Err(e) = taps.send.send(&frame.bytes) {
        // At tc egress a TC_ACT_SHOT comes back to the sender as ENOBUFS.
        let shot = e.raw_os_error() == Some(libc::ENOBUFS)
            && before.is_some_and(|b| wait_for_run(runs, b, limits.run_wait));
        if !shot {
            return Fate::NotSent(format!("the kernel refused it: {e}"));
        }
    }
    let (ran, settle) = match before {
        Some(before) => (wait_for_run(runs, before, limits.run_wait), limits.settle),
        None => (true, limits.settle_blind),
    };
    let (passed, bounced) = taps.collect_within(settle);
    *stray += (passed.len() + bounced.len()).saturating_sub(1);
    match (passed.into_iter().next(), bounced.into_iter().next()) {
        (Some(f), _) => Fate::Passed(f),
        (None, Some(f)) => Fate::Bounced(f),
        (None, None) if ran => Fate::Dropped,
        (None, None) => Fate::Unseen,
    }
}

/// Send `frames` one at a time through `taps`, within `limits` and until `stop`.
/// `runs` reads the program's run count (`None` when statistics are off).
pub fn drive(taps: &Taps, frames: &[Frame], runs: &dyn Fn() -> Option<u64>, limits: &Limits, stop: &StopFlag) -> BurstReport {
    let started = Instant::now();
    let mut report = BurstReport {
        counted: runs().is_some(),
        truncated: frames.len().saturating_sub(limits.max_frames),
        ..BurstReport::default()
    };
    for frame in frames.iter().take(limits.max_frames) {
        let fate = if stop.is_set() {
            Fate::NotSent("stopped (Ctrl-C or SIGTERM)".into())
        } else if started.elapsed() > limits.max_time {
            Fate::NotSent(format!("time limit of {} s reached", limits.max_time.as_secs()))
        } else {
            let (p, b) = taps.collect();
            report.stray += p.len() + b.len();
            one_frame(taps, frame, runs, limits, &mut report.stray)
        };
        let expected = frame.expect.as_ref().map(|e| e.verdict.clone());
        report.frames.push(FrameReport { label: frame.label.clone(), expected, check: check(frame, &fate), fate });
    }
    report.elapsed = started.elapsed();
    report
}
