//! Stopping a run cleanly: SIGINT and SIGTERM set a flag that the run's loops
//! poll, so that the Drop guards get to detach and unpin. A second SIGINT or
//! SIGTERM while the first is being handled exits at once (status 1).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};

/// A stop request, set by a signal or by [`StopFlag::request`].
#[derive(Clone, Debug, Default)]
pub struct StopFlag {
    flag: Arc<AtomicBool>,
}

/// How often [`StopFlag::sleep`] looks at the flag.
const POLL: Duration = Duration::from_millis(20);

impl StopFlag {
    /// A flag that only [`StopFlag::request`] sets (tests, embedding).
    pub fn new() -> StopFlag {
        StopFlag::default()
    }

    /// A flag that SIGINT and SIGTERM set. The handlers stay for the life of the
    /// process: removing them would leave the signals ignored (signal-hook cannot
    /// restore the default action).
    pub fn on_signals() -> io::Result<StopFlag> {
        let stop = StopFlag::new();
        for sig in [SIGINT, SIGTERM] {
            // Registered first, so it sees the flag before the second action sets it:
            // only a repeated signal exits.
            signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop.flag))?;
            signal_hook::flag::register(sig, Arc::clone(&stop.flag))?;
        }
        Ok(stop)
    }

    pub fn request(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Sleep for `dur`, waking early when a stop is requested. Returns whether a
    /// stop was requested.
    pub fn sleep(&self, dur: Duration) -> bool {
        let end = Instant::now() + dur;
        loop {
            if self.is_set() {
                return true;
            }
            let now = Instant::now();
            if now >= end {
                return false;
            }
            std::thread::sleep((end - now).min(POLL));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_wakes_on_request() {
        let stop = StopFlag::new();
        assert!(!stop.sleep(Duration::from_millis(5)));
        let other = stop.clone();
        let t = std::thread::spawn(move || other.request());
        let started = Instant::now();
        assert!(stop.sleep(Duration::from_secs(10)));
        assert!(started.elapsed() < Duration::from_secs(5));
        t.join().expect("thread");
    }
}
