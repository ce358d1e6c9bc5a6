//! Reading a whole (non-streamed or error) response body with a byte cap and a deadline.

use http_body_util::BodyExt;
use hyper::body::Incoming;
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
    body: &mut Incoming,
    cap: usize,
    deadline: tokio::time::Instant,
) -> (Vec<u8>, BodyEnd) {
    let mut out = Vec::new();
    loop {
        let frame = match timeout_at(deadline, body.frame()).await {
            Err(_) => return (out, BodyEnd::TimedOut),
            Ok(None) => return (out, BodyEnd::Complete),
            Ok(Some(Err(_))) => return (out, BodyEnd::Failed),
            Ok(Some(Ok(f))) => f,
        };
        if let Some(d) = frame.data_ref() {
            if out.len() + d.len() > cap {
                let room = cap - out.len();
                out.extend_from_slice(&d[..room]);
                return (out, BodyEnd::OverCap);
            }
            out.extend_from_slice(d);
        }
    }
}
