//! An HTTP/1.1 client connection read on the request's own task: the request is written in one
//! write, the response head parsed with `httparse`, and the body decoded in place from one read
//! buffer ([`framing`]), every event a read brought handled before the next read.
//!
//! hyper's client reads a connection on a task of its own and hands each body frame to the
//! request's task through a channel: two task wakeups per frame, and per event where a server
//! writes one event per chunk. Here one wakeup and one read carry as many events as arrived
//! (BENCHMARKS.md, "One read per event"). HTTP/2 stays with hyper.

mod framing;
mod head;

pub(crate) use framing::{Decoder, Drained, FramingError};
pub(crate) use head::Head;

use super::stamped::StampedTcp;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::Request;
use std::io;
use std::pin::Pin;
use std::task::Context;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The smallest read; a read that fills what was free makes the next one twice as large, up to
/// [`MAX_READ`].
const MIN_READ: usize = 8 * 1024;
const MAX_READ: usize = 64 * 1024;

/// The longest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// A byte stream a connection runs on: TCP, or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {
    /// When the kernel received the last bytes the last read returned, where the stream knows
    /// ([`StampedTcp`]).
    fn received_at(&self) -> Option<Instant>;

    /// The instant of the read that just returned bytes: the kernel's receive timestamp where
    /// there is one, else now.
    fn read_instant(&self) -> Instant {
        self.received_at().unwrap_or_else(Instant::now)
    }
}

impl Io for StampedTcp {
    fn received_at(&self) -> Option<Instant> {
        StampedTcp::received_at(self)
    }
}

impl Io for tokio_rustls::client::TlsStream<StampedTcp> {
    fn received_at(&self) -> Option<Instant> {
        self.get_ref().0.received_at()
    }
}

#[cfg(test)]
impl Io for tokio::io::DuplexStream {
    fn received_at(&self) -> Option<Instant> {
        None
    }
}

/// Why a request got no response head.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// Writing the request or reading the response failed before a whole head.
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    /// The server closed the connection before any byte of a response.
    #[error("connection closed before a response")]
    Closed,
    /// The server closed the connection in the middle of the response head.
    #[error("connection closed in the middle of the response head")]
    Incomplete,
    /// The response head is not HTTP/1.x or over its limits.
    #[error("{0}")]
    Parse(String),
}

impl SendError {
    /// Whether the request may be sent again on another connection: the connection failed
    /// before a response, not the server's answer.
    pub(crate) fn retryable(&self) -> bool {
        !matches!(self, SendError::Parse(_))
    }
}

/// One HTTP/1.1 connection.
pub(crate) struct H1Conn {
    io: Box<dyn Io>,
    buf: BytesMut,
    next_read: usize,
    /// The instant of the last read that brought bytes: the kernel's receive timestamp where
    /// the stream has one, else the read's own; never before the last request went out, nor
    /// before the read before it.
    read_at: Instant,
}

impl std::fmt::Debug for H1Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H1Conn")
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl H1Conn {
    pub(crate) fn new(io: impl Io + 'static) -> H1Conn {
        H1Conn {
            io: Box::new(io),
            buf: BytesMut::new(),
            next_read: MIN_READ,
            read_at: Instant::now(),
        }
    }

    /// Writes `req` (origin-form target, `Content-Length` added for a body or a `POST`) and
    /// reads the response head, skipping interim (1xx) responses.
    pub(crate) async fn send(&mut self, req: &Request<Bytes>) -> Result<Head, SendError> {
        let wire = serialize(req);
        let written = async {
            self.io.write_all(&wire).await?;
            self.io.flush().await
        }
        .await;
        self.read_at = Instant::now();
        if let Err(e) = written {
            // A server may answer (413, 431) and close before it read the whole request: its
            // answer is still worth reading.
            return self.head().await.map_err(|_| SendError::Io(e));
        }
        self.head().await
    }

    async fn head(&mut self) -> Result<Head, SendError> {
        loop {
            if !self.buf.is_empty() {
                if let Some((head, len)) = head::parse(&self.buf).map_err(SendError::Parse)? {
                    self.buf.advance(len);
                    if head.status.is_informational() {
                        if head.status == http::StatusCode::SWITCHING_PROTOCOLS {
                            return Err(SendError::Parse("response head: 101 unasked".into()));
                        }
                        continue;
                    }
                    return Ok(head);
                }
                if self.buf.len() > MAX_HEAD {
                    return Err(SendError::Parse(format!(
                        "response head longer than {MAX_HEAD} bytes"
                    )));
                }
            }
            if self.fill().await? == 0 {
                return Err(if self.buf.is_empty() {
                    SendError::Closed
                } else {
                    SendError::Incomplete
                });
            }
        }
    }

    /// One read into the buffer: the bytes read, 0 at the end of file.
    pub(crate) async fn fill(&mut self) -> io::Result<usize> {
        self.buf.reserve(self.next_read);
        let free = self.buf.capacity() - self.buf.len();
        let n = self.io.read_buf(&mut self.buf).await?;
        if n == free {
            self.next_read = (self.next_read * 2).min(MAX_READ);
        }
        if n > 0 {
            self.read_at = self.read_at.max(self.io.read_instant());
        }
        Ok(n)
    }

    /// The instant of the last read that brought bytes (see the field).
    pub(crate) fn read_at(&self) -> Instant {
        self.read_at
    }

    /// The bytes read and not yet decoded.
    pub(crate) fn buffered(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Whether the connection cannot carry another request: bytes the server sent beyond the
    /// last response, or its close (or a reset) seen by a read that does not wait.
    pub(crate) fn is_closed(&mut self) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        let mut byte = [0u8; 1];
        let mut rb = ReadBuf::new(&mut byte);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        // Pending: nothing to read, the connection open. Ready: a byte, its end, or an error.
        Pin::new(&mut self.io)
            .poll_read(&mut cx, &mut rb)
            .is_ready()
    }
}

/// The request in HTTP/1.1's wire form, in one buffer so that it goes out in one write.
fn serialize(req: &Request<Bytes>) -> Vec<u8> {
    let body = req.body();
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut out = Vec::with_capacity(256 + body.len());
    out.put_slice(req.method().as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(target.as_bytes());
    out.put_slice(b" HTTP/1.1\r\n");
    for (name, value) in req.headers() {
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    if !body.is_empty() || req.method() == http::Method::POST {
        out.put_slice(b"content-length: ");
        out.put_slice(body.len().to_string().as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
    out.put_slice(body);
    out
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
