//! The async runtime `agent join` runs on, and its wakeup coalescing.
//!
//! Against a server that writes every token event as its own TCP segment, an agent core at a
//! few hundred streams gets an event every ~20 µs and handles one in a few µs: its worker
//! drains the ready sockets, finds nothing, and sleeps in `epoll_wait` again after one or two
//! events, and a context switch per few events is a large share of its CPU (BENCHMARKS.md,
//! "Kernel receive timestamps, fewer wakeups"). With a coalescing window, a worker that was
//! woken within the window of going to sleep waits out the window before it asks the kernel
//! again, and then finds many events ready at once. An event's instant is not moved by it: the
//! client takes each read's instant from the kernel's receive timestamp
//! (`client/stamped.rs`), not from when the worker got to it. What it does delay is the agent's
//! own work: a request due during the window goes out when the window ends (its send lag,
//! counted from its intended start as every send lag is), so the window is short, and a
//! worker whose last sleep was longer than the window (a light load) does not wait at all.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Builds the runtime: `threads` workers (0: one per core; 1: single-threaded, every task on
/// the calling thread), with wakeups coalesced over `window` (zero: not at all).
pub fn build(threads: usize, window: Duration) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        0 => tokio::runtime::Builder::new_multi_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    };
    if !window.is_zero() {
        builder
            .on_thread_park(move || {
                before_park(window);
            })
            .on_thread_unpark(after_unpark);
    }
    builder.enable_all().build()
}

thread_local! {
    /// When this worker last went to sleep, until it wakes.
    static PARKED_AT: Cell<Option<Instant>> = const { Cell::new(None) };
    /// How long this worker's last sleep lasted (none yet: as long as can be).
    static LAST_SLEEP: Cell<Duration> = const { Cell::new(Duration::MAX) };
}

/// Called as a worker is about to sleep: waits out `window` first when its last sleep was
/// shorter than that (events come faster than the window). Returns whether it waited.
fn before_park(window: Duration) -> bool {
    let wait = LAST_SLEEP.get() < window;
    if wait {
        std::thread::sleep(window);
    }
    PARKED_AT.set(Some(Instant::now()));
    wait
}

/// Called as a worker wakes: notes how long it slept.
fn after_unpark() {
    if let Some(at) = PARKED_AT.take() {
        LAST_SLEEP.set(at.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_waits_out_the_window_only_while_its_sleeps_are_shorter() {
        let window = Duration::from_millis(20);
        assert!(!before_park(window), "no sleep seen yet: no wait");
        after_unpark();
        let begun = Instant::now();
        assert!(before_park(window), "woken at once: events come fast");
        assert!(begun.elapsed() >= window, "the window was waited out");
        std::thread::sleep(Duration::from_millis(40));
        after_unpark();
        assert!(
            !before_park(window),
            "a long sleep: a light load waits for nothing"
        );
    }

    #[test]
    fn every_kind_of_runtime_runs_with_and_without_a_window() {
        for threads in [0, 1, 2] {
            for window in [Duration::ZERO, Duration::from_micros(100)] {
                let rt = build(threads, window).unwrap();
                let got = rt.block_on(async {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    tokio::spawn(async { 7 }).await.unwrap()
                });
                assert_eq!(got, 7);
            }
        }
    }
}
