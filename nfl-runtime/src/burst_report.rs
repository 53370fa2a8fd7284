//! What a burst did: each frame's fate, checked against its expectation, and
//! the report `nflc run` prints.

use std::fmt::Write as _;
use std::time::Duration;

use crate::testfile::hex_diff;
use crate::traffic::{Frame, Outcome};

/// What became of one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    Passed(Vec<u8>),
    Bounced(Vec<u8>),
    Dropped,
    /// The program never ran on it: lost before the hook.
    Unseen,
    /// Not sent: the kernel refused it, or a limit or Ctrl-C came first.
    NotSent(String),
}

impl Fate {
    fn outcome(&self) -> Option<(Outcome, Option<&[u8]>)> {
        match self {
            Fate::Passed(b) => Some((Outcome::Passed, Some(b))),
            Fate::Bounced(b) => Some((Outcome::Bounced, Some(b))),
            Fate::Dropped => Some((Outcome::Dropped, None)),
            Fate::Unseen | Fate::NotSent(_) => None,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Fate::Passed(_) => "passed",
            Fate::Bounced(_) => "bounced",
            Fate::Dropped => "dropped",
            Fate::Unseen => "unseen",
            Fate::NotSent(_) => "not sent",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameReport {
    pub label: String,
    /// The verdict the `.test` case expects.
    pub expected: Option<String>,
    pub fate: Fate,
    /// `None` without an expectation; else why the frame did not do what it should.
    pub check: Option<Result<(), String>>,
}

#[derive(Clone, Debug, Default)]
pub struct BurstReport {
    pub frames: Vec<FrameReport>,
    /// Frames seen that belong to no window.
    pub stray: usize,
    /// Frames left out by `max_frames`.
    pub truncated: usize,
    pub elapsed: Duration,
    /// Whether run counts told when the program had run.
    pub counted: bool,
}

/// Counts of a report: (sent, passed, bounced, dropped, unseen, not sent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub sent: usize,
    pub passed: usize,
    pub bounced: usize,
    pub dropped: usize,
    pub unseen: usize,
    pub not_sent: usize,
    pub ok: usize,
    pub failed: usize,
}

impl BurstReport {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for f in &self.frames {
            match f.fate {
                Fate::Passed(_) => c.passed += 1,
                Fate::Bounced(_) => c.bounced += 1,
                Fate::Dropped => c.dropped += 1,
                Fate::Unseen => c.unseen += 1,
                Fate::NotSent(_) => c.not_sent += 1,
            }
            match f.check {
                Some(Ok(())) => c.ok += 1,
                Some(Err(_)) => c.failed += 1,
                None => {}
            }
        }
        c.sent = self.frames.len() - c.not_sent;
        c
    }

    /// Whether anything failed: a mismatch, or a frame not sent or unseen.
    pub fn failed(&self) -> bool {
        let c = self.counts();
        c.failed > 0 || c.not_sent > 0 || c.unseen > 0
    }

    /// One line per frame, then the summary.
    pub fn format(&self) -> String {
        let mut out = String::new();
        for (i, f) in self.frames.iter().enumerate() {
            let expected = f.expected.as_deref().unwrap_or("");
            let verdict = match &f.check {
                None => "",
                Some(Ok(())) => "ok",
                Some(Err(_)) => "FAIL",
            };
            let _ = writeln!(out, "{:>4}  {expected:<9} {:<9} {verdict:<4}  {}", i + 1, f.fate.name(), f.label);
            if let Some(Err(why)) = &f.check {
                for line in why.lines() {
                    let _ = writeln!(out, "        {line}");
                }
            }
            if let Fate::NotSent(why) = &f.fate {
                let _ = writeln!(out, "        {why}");
            }
        }
        out.push_str(&self.summary());
        out
    }

    pub fn summary(&self) -> String {
        let c = self.counts();
        let mut s = format!(
            "sent {}, passed {}, bounced (tx) {}, dropped {}",
            c.sent, c.passed, c.bounced, c.dropped
        );
        for (n, what) in [(c.unseen, "unseen by the program"), (c.not_sent, "not sent"), (self.stray, "stray frames seen")] {
            if n > 0 {
                let _ = write!(s, ", {n} {what}");
            }
        }
        if c.ok + c.failed > 0 {
            let _ = write!(s, "; {} of {} as the .test expects", c.ok, c.ok + c.failed);
        }
        if self.truncated > 0 {
            let _ = write!(s, "; {} frames left out (limit)", self.truncated);
        }
        let _ = writeln!(s, " ({:.1} ms)", self.elapsed.as_secs_f64() * 1e3);
        s
    }
}

/// Compare a fate with what the frame expects.
pub(crate) fn check(frame: &Frame, fate: &Fate) -> Option<Result<(), String>> {
    let exp = frame.expect.as_ref()?;
    let Some(want) = exp.outcome else { return Some(Ok(())) };
    let Some((got, bytes)) = fate.outcome() else {
        return Some(Err(format!("expected {}, but the frame was {}", exp.verdict, fate.name())));
    };
    if got != want {
        return Some(Err(format!("expected {}, but the frame was {}", exp.verdict, fate.name())));
    }
    match (&exp.output, bytes) {
        (Some(out), Some(got)) if out != got => Some(Err(format!("output bytes differ\n{}", hex_diff(out, got)))),
        _ => Some(Ok(())),
    }
}
