//! When a probe's loop stops, and how it goes to sleep.

use std::time::{Duration, Instant};

/// When a run stops.
pub(crate) struct Limits {
    pub(crate) until: Instant,
    /// Requests to send and responses to wait for.
    pub(crate) requests: u64,
    /// How the loop goes to sleep.
    pub(crate) coalesce: Coalesce,
}

/// The agent's wakeup coalescing (`agent/src/runtime.rs`) for a loop that sleeps in one
/// blocking call: when its last sleep was shorter than the window, it waits the window out
/// before it sleeps again.
pub(crate) struct Coalesce {
    window: Duration,
    last: Duration,
}

impl Coalesce {
    pub(crate) fn new(window: Duration) -> Self {
        Coalesce {
            window,
            last: Duration::MAX,
        }
    }

    /// Runs the blocking call `sleep`, waiting out the window first when due.
    pub(crate) fn sleep<T>(&mut self, sleep: impl FnOnce() -> T) -> T {
        if self.last < self.window {
            std::thread::sleep(self.window);
        }
        let at = Instant::now();
        let r = sleep();
        self.last = at.elapsed();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_waited_out_only_after_a_short_sleep() {
        let window = Duration::from_millis(20);
        let mut c = Coalesce::new(window);
        let begun = Instant::now();
        c.sleep(|| ());
        assert!(begun.elapsed() < window, "no sleep seen yet: no wait");
        let begun = Instant::now();
        c.sleep(|| std::thread::sleep(Duration::from_millis(40)));
        assert!(
            begun.elapsed() >= window + Duration::from_millis(40),
            "the last sleep was short: the window was waited out first"
        );
        let begun = Instant::now();
        c.sleep(|| ());
        assert!(begun.elapsed() < window, "the last sleep was long: no wait");
    }
}
