//! Keep-alive HTTP/1.1 connections to one endpoint, TCP_NODELAY on each (small SSE chunks must
//! not wait for Nagle), over TLS for `https://`. A request checks a connection out and gives it
//! back when its response was read to the end. An HTTP/2 connection (h2c by prior knowledge, or
//! `h2` chosen by ALPN) is shared instead: every request opens a stream on it.
//!
//! Reuse follows the rules of a well-kept HTTP client: a connection whose response said
//! `Connection: close`, whose `Keep-Alive: max=` is used up, that the server already closed (a
//! read that does not wait sees its FIN when it is given back or checked out) or that sat idle
//! past the server's `Keep-Alive: timeout=` (or the pool's own idle limit) is never reused. Idle connections are few: at most
//! `max_idle` stay, so that a server with a fixed pool of HTTP threads is not held by idle
//! sockets. The pool counts what it opened, reused and retried (see [`ConnStats`]).

use super::h1::{H1Conn, Io};
use super::h2_clock::{Clocked, ReadClock};
use super::stamped::StampedTcp;
use super::tls::TlsTarget;
use bytes::Bytes;
use fleetbench_model::settings::HttpVersion;
use http::HeaderMap;
use http_body_util::Full;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// An HTTP/2 connection's request side (hyper's, shared by every request on it) and the clock
/// of its connection task's reads, which times the frames the requests take.
#[derive(Clone, Debug)]
pub(crate) struct H2Sender {
    pub(crate) send: http2::SendRequest<Full<Bytes>>,
    pub(crate) clock: ReadClock,
}

impl H2Sender {
    fn is_closed(&self) -> bool {
        self.send.is_closed()
    }

    fn is_ready(&self) -> bool {
        self.send.is_ready()
    }
}

/// A connection's request side: HTTP/1.1 (one request at a time, read on the request's task)
/// or HTTP/2 (shared, hyper's).
#[derive(Debug)]
pub(crate) enum Sender {
    H1(H1Conn),
    H2(H2Sender),
}

impl Sender {
    /// Whether requests on it need the absolute URI (HTTP/2's `:scheme` and `:authority`).
    pub(crate) fn is_h2(&self) -> bool {
        matches!(self, Sender::H2(_))
    }

    /// Whether it cannot carry another request (closed, or an HTTP/2 connection not ready).
    fn is_closed(&mut self) -> bool {
        match self {
            Sender::H1(c) => c.is_closed(),
            Sender::H2(s) => s.is_closed() || !s.is_ready(),
        }
    }
}

/// Where a pool connects and how: the address, TLS (for `https://`) and the HTTP version the
/// profile allows (`api.http_version`).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub addr: SocketAddr,
    pub tls: Option<TlsTarget>,
    pub version: HttpVersion,
}

impl Target {
    /// Whether a connection may turn out to be HTTP/2.
    fn may_be_h2(&self) -> bool {
        match self.version {
            HttpVersion::Http1 => false,
            HttpVersion::Http2 => true,
            HttpVersion::Auto => self.tls.is_some(),
        }
    }
}

/// Idle time after which the pool closes a connection itself when the server named no
/// `Keep-Alive: timeout=`: shorter than common server defaults (llama.cpp 5 s, nginx 75 s,
/// uvicorn 5 s), so that the server never closes one under a request being written.
pub(crate) const DEFAULT_IDLE_LIMIT: Duration = Duration::from_secs(2);

/// A margin kept below a server's `Keep-Alive: timeout=`.
const KEEP_ALIVE_MARGIN: Duration = Duration::from_millis(500);

/// One connection and what the server said about its reuse.
#[derive(Debug)]
pub(crate) struct Conn {
    pub sender: Sender,
    /// Whether this checkout reuses a connection that served an earlier request.
    pub reused: bool,
    /// Requests the server still accepts on it (`Keep-Alive: max=`), when it said.
    remaining: Option<u64>,
    /// When the server closes it when idle (`Keep-Alive: timeout=`), when it said.
    server_idle: Option<Duration>,
    idle_since: Instant,
}

/// What a pool did during one stage; it reaches the report's metadata.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnStats {
    /// Connections opened (pre-warmed, on demand and for retries).
    pub opened: u64,
    /// Requests sent on a connection that had served an earlier one.
    pub reused: u64,
    /// Requests retried once on a fresh connection after a reused one failed before any
    /// response byte.
    pub retries: u64,
    /// Connections not reused because the server closed them or said it would
    /// (`Connection: close`, `Keep-Alive: max=` used up, FIN seen while idle).
    pub server_closed: u64,
    /// Idle connections the pool closed itself (idle limit, `Keep-Alive: timeout=`, or more
    /// idle than `max_idle`).
    pub idle_closed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    opened: AtomicU64,
    reused: AtomicU64,
    retries: AtomicU64,
    server_closed: AtomicU64,
    idle_closed: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct ConnPool {
    target: Target,
    idle: Mutex<Vec<Conn>>,
    /// The HTTP/2 connection every request shares, once one is open.
    shared: Mutex<Option<H2Sender>>,
    /// Held while a connection that may turn out HTTP/2 is opened, so that concurrent first
    /// requests share one instead of each opening its own.
    h2_gate: tokio::sync::Mutex<()>,
    /// A connection turned out HTTP/1.1 (ALPN): no more waiting at the gate.
    h1_seen: std::sync::atomic::AtomicBool,
    /// Idle connections kept at most; more are closed when given back.
    max_idle: AtomicUsize,
    idle_limit: Duration,
    counters: Counters,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("connect to {addr}: {source}")]
    Tcp {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS handshake with {addr}: {source}")]
    Tls {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP/2 handshake with {addr}: {source}")]
    Handshake {
        addr: SocketAddr,
        #[source]
        source: hyper::Error,
    },
}

/// `Connection: close` or the `Keep-Alive` parameters of a response.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReuseHints {
    pub close: bool,
    pub max: Option<u64>,
    pub timeout: Option<Duration>,
}

impl ReuseHints {
    pub(crate) fn from_headers(h: &HeaderMap) -> ReuseHints {
        let mut hints = ReuseHints::default();
        for v in h.get_all(http::header::CONNECTION) {
            if let Ok(s) = v.to_str() {
                if s.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")) {
                    hints.close = true;
                }
            }
        }
        if let Some(v) = h.get("keep-alive").and_then(|v| v.to_str().ok()) {
            for part in v.split(',') {
                let Some((k, val)) = part.split_once('=') else {
                    continue;
                };
                let val = val.trim().trim_matches('"');
                match k.trim().to_ascii_lowercase().as_str() {
                    "max" => hints.max = val.parse().ok(),
                    "timeout" => {
                        hints.timeout = val
                            .parse::<f64>()
                            .ok()
                            .filter(|t| t.is_finite() && *t >= 0.0)
                            .map(|t| Duration::from_secs_f64(t.min(86_400.0)))
                    }
                    _ => {}
                }
            }
        }
        hints
    }
}

impl ConnPool {
    pub(crate) fn new(target: Target) -> Self {
        StampedTcp::keep_stamping_on();
        ConnPool {
            target,
            idle: Mutex::new(Vec::new()),
            shared: Mutex::new(None),
            h2_gate: tokio::sync::Mutex::new(()),
            h1_seen: std::sync::atomic::AtomicBool::new(false),
            max_idle: AtomicUsize::new(usize::MAX),
            idle_limit: DEFAULT_IDLE_LIMIT,
            counters: Counters::default(),
        }
    }

    /// Keeps at most `n` idle connections (the most the stage has in flight at once).
    pub(crate) fn set_max_idle(&self, n: usize) {
        self.max_idle.store(n.max(1), Ordering::Relaxed);
    }

    /// Opens connections (until `deadline`) so that `n` are idle, and keeps them; only one
    /// when the endpoint speaks HTTP/2 (its streams carry the stage's requests).
    pub(crate) async fn prewarm(&self, n: usize, deadline: std::time::Instant) {
        let mut have = self.idle.lock().map(|v| v.len()).unwrap_or(0);
        if have >= n || self.shared_h2().is_some() {
            return;
        }
        if self.target.may_be_h2() {
            // The first connection tells whether the server speaks HTTP/2.
            match tokio::time::timeout_at(deadline.into(), self.connect()).await {
                Ok(Ok(Sender::H2(s))) => {
                    self.share(s);
                    return;
                }
                Ok(Ok(sender)) => {
                    self.h1_seen.store(true, Ordering::Relaxed);
                    self.keep_idle(vec![sender]);
                    have += 1;
                }
                _ => return,
            }
        }
        let opening = (have..n).map(|_| self.connect());
        let opened =
            tokio::time::timeout_at(deadline.into(), futures::future::join_all(opening)).await;
        if let Ok(conns) = opened {
            self.keep_idle(conns.into_iter().flatten().collect());
        }
    }

    fn keep_idle(&self, senders: Vec<Sender>) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.extend(senders.into_iter().map(|sender| Conn {
                sender,
                reused: false,
                remaining: None,
                server_idle: None,
                idle_since: Instant::now(),
            }));
        }
    }

    /// The shared HTTP/2 connection while it is open.
    fn shared_h2(&self) -> Option<H2Sender> {
        let mut shared = self.shared.lock().ok()?;
        match shared.as_ref() {
            Some(s) if !s.is_closed() && s.is_ready() => Some(s.clone()),
            Some(_) => {
                *shared = None;
                self.counters.server_closed.fetch_add(1, Ordering::Relaxed);
                None
            }
            None => None,
        }
    }

    /// A stream on the shared HTTP/2 connection, counted as a reuse.
    fn reuse_h2(&self) -> Option<Conn> {
        let s = self.shared_h2()?;
        self.counters.reused.fetch_add(1, Ordering::Relaxed);
        Some(Conn {
            sender: Sender::H2(s),
            reused: true,
            remaining: None,
            server_idle: None,
            idle_since: Instant::now(),
        })
    }

    fn share(&self, s: H2Sender) {
        if let Ok(mut shared) = self.shared.lock() {
            *shared = Some(s);
        }
    }

    /// Whether an idle connection may still carry a request now.
    fn usable(&self, c: &mut Conn, now: Instant) -> Result<(), Closed> {
        if c.sender.is_closed() {
            return Err(Closed::Server);
        }
        let limit = match c.server_idle {
            Some(t) => t.saturating_sub(KEEP_ALIVE_MARGIN).min(self.idle_limit),
            None => self.idle_limit,
        };
        if now.saturating_duration_since(c.idle_since) >= limit {
            return Err(Closed::Idle);
        }
        Ok(())
    }

    /// An idle connection that is still usable, or a new one.
    pub(crate) async fn checkout(&self) -> Result<Conn, ConnectError> {
        if let Some(c) = self.reuse_h2() {
            return Ok(c);
        }
        let now = Instant::now();
        loop {
            let candidate = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
            let Some(mut c) = candidate else { break };
            match self.usable(&mut c, now) {
                Ok(()) => {
                    c.reused = true;
                    self.counters.reused.fetch_add(1, Ordering::Relaxed);
                    return Ok(c);
                }
                Err(Closed::Server) => {
                    self.counters.server_closed.fetch_add(1, Ordering::Relaxed);
                }
                Err(Closed::Idle) => {
                    self.counters.idle_closed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if self.target.may_be_h2() && !self.h1_seen.load(Ordering::Relaxed) {
            let _gate = self.h2_gate.lock().await;
            if let Some(c) = self.reuse_h2() {
                return Ok(c);
            }
            return self.fresh().await;
        }
        self.fresh().await
    }

    /// A new connection, never an idle one (the retry after a reused connection failed).
    pub(crate) async fn fresh(&self) -> Result<Conn, ConnectError> {
        let sender = self.connect().await?;
        match &sender {
            Sender::H2(s) => self.share(s.clone()),
            Sender::H1(_) => self.h1_seen.store(true, Ordering::Relaxed),
        }
        Ok(Conn {
            sender,
            reused: false,
            remaining: None,
            server_idle: None,
            idle_since: Instant::now(),
        })
    }

    async fn connect(&self) -> Result<Sender, ConnectError> {
        let addr = self.target.addr;
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ConnectError::Tcp { addr, source })?;
        let _ = stream.set_nodelay(true);
        let stream = StampedTcp::new(stream);
        let sender = match &self.target.tls {
            None => handshake(stream, self.target.version == HttpVersion::Http2).await,
            Some(tls) => {
                let stream = tls
                    .connector
                    .connect(tls.name.clone(), stream)
                    .await
                    .map_err(|source| ConnectError::Tls { addr, source })?;
                let h2 = match self.target.version {
                    HttpVersion::Http1 => false,
                    HttpVersion::Http2 => true,
                    HttpVersion::Auto => stream.get_ref().1.alpn_protocol() == Some(&b"h2"[..]),
                };
                handshake(stream, h2).await
            }
        }
        .map_err(|source| ConnectError::Handshake { addr, source })?;
        self.counters.opened.fetch_add(1, Ordering::Relaxed);
        Ok(sender)
    }

    /// Counts a retry on a fresh connection.
    pub(crate) fn count_retry(&self) {
        self.counters.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Returns a connection whose last response was read completely, with what that response's
    /// headers said about reuse. A connection the server is closing is dropped.
    pub(crate) fn give_back(&self, mut c: Conn, hints: ReuseHints) {
        if c.sender.is_h2() {
            // Shared: the stream ended, the connection stays open for the next one.
            return;
        }
        if hints.close || c.sender.is_closed() {
            self.counters.server_closed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Some(max) = hints.max {
            // `max` counts the requests still allowed, this one included (Apache, llama.cpp's
            // httplib): one left means this response was the last.
            if max <= 1 {
                self.counters.server_closed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            c.remaining = Some(max - 1);
        } else if let Some(r) = c.remaining {
            c.remaining = Some(r.saturating_sub(1));
            if r <= 1 {
                self.counters.server_closed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        if hints.timeout.is_some() {
            c.server_idle = hints.timeout;
        }
        c.idle_since = Instant::now();
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        if idle.len() >= self.max_idle.load(Ordering::Relaxed) {
            self.counters.idle_closed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        idle.push(c);
    }

    /// Closes every idle connection that is past its idle limit (or already closed).
    pub(crate) fn sweep(&self) {
        let now = Instant::now();
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        let before = idle.len();
        let mut server = 0;
        idle.retain_mut(|c| match self.usable(c, now) {
            Ok(()) => true,
            Err(Closed::Server) => {
                server += 1;
                false
            }
            Err(Closed::Idle) => false,
        });
        let gone = (before - idle.len()) as u64;
        self.counters
            .server_closed
            .fetch_add(server, Ordering::Relaxed);
        self.counters
            .idle_closed
            .fetch_add(gone - server, Ordering::Relaxed);
    }

    /// Closes every idle connection (the stage ended).
    pub(crate) fn close_idle(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
        if let Ok(mut shared) = self.shared.lock() {
            *shared = None;
        }
    }

    pub(crate) fn stats(&self) -> ConnStats {
        let c = &self.counters;
        ConnStats {
            opened: c.opened.load(Ordering::Relaxed),
            reused: c.reused.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            server_closed: c.server_closed.load(Ordering::Relaxed),
            idle_closed: c.idle_closed.load(Ordering::Relaxed),
        }
    }
}

enum Closed {
    Server,
    Idle,
}

/// A connection on an open stream. HTTP/2's handshake spawns hyper's connection task, which
/// runs until the server closes the connection or every sender is dropped; an HTTP/1.1
/// connection has no task of its own (see [`H1Conn`]).
async fn handshake(io: impl Io + 'static, h2: bool) -> Result<Sender, hyper::Error> {
    if !h2 {
        return Ok(Sender::H1(H1Conn::new(io)));
    }
    let clock = ReadClock::new();
    let io = TokioIo::new(Clocked::new(io, clock.clone()));
    let (send, conn) = http2::handshake(TokioExecutor::new(), io).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Sender::H2(H2Sender { send, clock }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn connection_close_and_keep_alive_parameters_are_read() {
        assert!(ReuseHints::from_headers(&headers(&[("connection", "Close")])).close);
        assert!(ReuseHints::from_headers(&headers(&[("connection", "upgrade, close")])).close);
        let h = ReuseHints::from_headers(&headers(&[
            ("connection", "keep-alive"),
            ("keep-alive", "timeout=5, max=100"),
        ]));
        assert_eq!(
            h,
            ReuseHints {
                close: false,
                max: Some(100),
                timeout: Some(Duration::from_secs(5)),
            }
        );
        assert_eq!(
            ReuseHints::from_headers(&headers(&[("keep-alive", "timeout=abc, max=x")])),
            ReuseHints::default()
        );
    }
}
