//! One request on one connection and its response as it comes in: the head, then the body step
//! by step. Over HTTP/1.1 the body is read on the request's own task ([`super::h1`]); over
//! HTTP/2 it comes from hyper's connection task, a frame at a time, timed by that task's reads
//! ([`super::h2_clock`]).

use super::h1::{Decoder, Drained, FramingError, SendError as H1SendError};
use super::h2_clock::ReadClock;
use super::pool::{Conn, ConnPool, ReuseHints, Sender};
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use std::time::Instant;

/// Why a request got no response head.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    #[error(transparent)]
    H1(#[from] H1SendError),
    #[error(transparent)]
    H2(#[from] hyper::Error),
}

impl SendError {
    /// Whether another attempt on another connection may help: the connection failed before a
    /// response, rather than the server answering something that is not HTTP or timing out.
    pub(crate) fn retryable(&self) -> bool {
        match self {
            SendError::H1(e) => e.retryable(),
            SendError::H2(e) => !e.is_parse() && !e.is_timeout(),
        }
    }
}

/// Why a body could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("body: {0}")]
    Io(#[from] std::io::Error),
    #[error("body: {0}")]
    Framing(#[from] FramingError),
    #[error("body: the connection closed before the body's end")]
    Cut,
    #[error("body: {0}")]
    H2(#[from] hyper::Error),
}

/// What one step of a body brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Data, read at this instant, went to the sink.
    Data(Instant),
    /// The body ended.
    End,
    /// The sink asked to stop; the rest of the body is not read.
    Stopped,
}

enum Body {
    H1 {
        decoder: Decoder,
    },
    /// Frames from hyper's connection task, timed by its reads' clock.
    H2 {
        body: Incoming,
        clock: ReadClock,
    },
}

/// A response whose head arrived, on the connection it came on.
pub(crate) struct Exchange {
    conn: Conn,
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// What the head said about the connection's reuse.
    hints: ReuseHints,
    body: Body,
    /// The body was read to its end.
    ended: bool,
}

/// Sends `req` on `conn` and waits for the response head. HTTP/1.1 takes the origin-form target
/// and `Host`; HTTP/2 the absolute URI.
pub(crate) async fn send(mut conn: Conn, req: Request<Bytes>) -> Result<Exchange, SendError> {
    match &mut conn.sender {
        Sender::H1(c) => {
            let head = c.send(&req).await?;
            let mut hints = ReuseHints::from_headers(&head.headers);
            hints.close |= !head.keep_alive;
            Ok(Exchange {
                status: head.status,
                headers: head.headers,
                hints,
                body: Body::H1 {
                    decoder: Decoder::new(head.framing),
                },
                ended: false,
                conn,
            })
        }
        Sender::H2(s) => {
            let (parts, body) = s.send.send_request(req.map(Full::new)).await?.into_parts();
            Ok(Exchange {
                status: parts.status,
                hints: ReuseHints::from_headers(&parts.headers),
                headers: parts.headers,
                body: Body::H2 {
                    body,
                    clock: s.clock.clone(),
                },
                ended: false,
                conn,
            })
        }
    }
}

impl Exchange {
    /// Reads the body on until data arrives or it ends: every piece of data that one read
    /// brought goes to `sink` with the read's instant, before the next read. `sink` returns
    /// false to stop.
    pub(crate) async fn next(
        &mut self,
        sink: impl FnMut(&[u8], Instant) -> bool,
    ) -> Result<Step, BodyError> {
        let step = self.step(sink).await;
        self.ended |= matches!(step, Ok(Step::End));
        step
    }

    async fn step(
        &mut self,
        mut sink: impl FnMut(&[u8], Instant) -> bool,
    ) -> Result<Step, BodyError> {
        match (&mut self.conn.sender, &mut self.body) {
            (Sender::H1(c), Body::H1 { decoder }) => loop {
                // The instant of the read that brought what is buffered (the head's read, or
                // the last fill).
                let at = c.read_at();
                let mut delivered = false;
                let drained = decoder.drain(c.buffered(), |b| {
                    delivered = true;
                    sink(b, at)
                })?;
                match drained {
                    Drained::Done => return Ok(Step::End),
                    Drained::Stopped => return Ok(Step::Stopped),
                    Drained::NeedMore if delivered => return Ok(Step::Data(at)),
                    Drained::NeedMore => {}
                }
                let n = c.fill().await?;
                if n == 0 {
                    return if decoder.end_of_file() {
                        Ok(Step::End)
                    } else {
                        Err(BodyError::Cut)
                    };
                }
            },
            (_, Body::H2 { body, clock }) => loop {
                let Some(frame) = body.frame().await else {
                    return Ok(Step::End);
                };
                if let Some(data) = frame?.data_ref() {
                    // The read that brought the frame, not this task's turn to take it.
                    let at = clock.instant(Instant::now());
                    return Ok(if sink(data, at) {
                        Step::Data(at)
                    } else {
                        Step::Stopped
                    });
                }
            },
            (Sender::H2(_), Body::H1 { .. }) => unreachable!("an HTTP/1.1 body on HTTP/2"),
        }
    }

    /// Hands the connection back to `pool` with what the response said about its reuse
    /// ([`ConnPool::give_back`]) once the body was read to its end; before that, the connection
    /// closes with the exchange.
    pub(crate) fn give_back(self, pool: &ConnPool) {
        if self.ended {
            pool.give_back(self.conn, self.hints);
        }
    }
}
