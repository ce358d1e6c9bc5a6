//! Reading a whole (non-streamed or error) response body with a byte cap and a deadline.

use super::exchange::{Exchange, Step};
use tokio::time::timeout_at;

/// How reading a body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyEnd {
    Complete,
    OverCap,
    Failed,
    TimedOut,
}

/// Reads a body until it ends, `cap` bytes were read, it fails, or `deadline`; returns what was
/// read (at most `cap` bytes).
pub(crate) async fn read_capped(
    ex: &mut Exchange,
    cap: usize,
    deadline: tokio::time::Instant,
) -> (Vec<u8>, BodyEnd) {
    let mut out = Vec::new();
    loop {
        let step = ex.next(|d, _| {
            let room = cap - out.len();
            out.extend_from_slice(&d[..d.len().min(room)]);
            d.len() <= room
        });
        match timeout_at(deadline, step).await {
            Err(_) => return (out, BodyEnd::TimedOut),
            Ok(Ok(Step::End)) => return (out, BodyEnd::Complete),
            Ok(Ok(Step::Stopped)) => return (out, BodyEnd::OverCap),
            Ok(Ok(Step::Data(_))) => {}
            Ok(Err(_)) => return (out, BodyEnd::Failed),
        }
    }
}
