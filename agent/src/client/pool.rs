//! Keep-alive HTTP/1.1 connections to one endpoint, TCP_NODELAY on each (small SSE chunks must
//! not wait for Nagle). A request checks a connection out and gives it back when its response
//! was read to the end.
//!
//! Reuse follows the rules of a well-kept HTTP client: a connection whose response said
//! `Connection: close`, whose `Keep-Alive: max=` is used up, that the server already closed
//! (hyper's connection task saw the FIN) or that sat idle past the server's `Keep-Alive:
//! timeout=` (or the pool's own idle limit) is never reused. Idle connections are few: at most
//! `max_idle` stay, so that a server with a fixed pool of HTTP threads is not held by idle
//! sockets. The pool counts what it opened, reused and retried (see [`ConnStats`]).

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

pub type Sender = SendRequest<Full<Bytes>>;

/// Idle time after which the pool closes a connection itself when the server named no
/// `Keep-Alive: timeout=`: shorter than common server defaults (llama.cpp 5 s, nginx 75 s,
/// uvicorn 5 s), so that the server never closes one under a request being written.
pub const DEFAULT_IDLE_LIMIT: Duration = Duration::from_secs(2);

/// A margin kept below a server's `Keep-Alive: timeout=`.
const KEEP_ALIVE_MARGIN: Duration = Duration::from_millis(500);

/// One connection and what the server said about its reuse.
#[derive(Debug)]
pub struct Conn {
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
pub struct ConnStats {
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
pub struct ConnPool {
    addr: SocketAddr,
    idle: Mutex<Vec<Conn>>,
    /// Idle connections kept at most; more are closed when given back.
    max_idle: AtomicUsize,
    idle_limit: Duration,
    counters: Counters,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connect to {addr}: {source}")]
    Tcp {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP handshake with {addr}: {source}")]
    Handshake {
        addr: SocketAddr,
        #[source]
        source: hyper::Error,
    },
}

/// `Connection: close` or the `Keep-Alive` parameters of a response.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReuseHints {
    pub close: bool,
    pub max: Option<u64>,
    pub timeout: Option<Duration>,
}

impl ReuseHints {
    pub fn from_headers(h: &HeaderMap) -> ReuseHints {
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
    pub fn new(addr: SocketAddr) -> Self {
        ConnPool {
            addr,
            idle: Mutex::new(Vec::new()),
            max_idle: AtomicUsize::new(usize::MAX),
            idle_limit: DEFAULT_IDLE_LIMIT,
            counters: Counters::default(),
        }
    }

    /// Keeps at most `n` idle connections (the most the stage has in flight at once).
    pub fn set_max_idle(&self, n: usize) {
        self.max_idle.store(n.max(1), Ordering::Relaxed);
    }

    /// Opens connections (until `deadline`) so that `n` are idle, and keeps them.
    pub async fn prewarm(&self, n: usize, deadline: std::time::Instant) {
        let have = self.idle.lock().map(|v| v.len()).unwrap_or(0);
        let opening = (have..n).map(|_| self.connect());
        let opened =
            tokio::time::timeout_at(deadline.into(), futures::future::join_all(opening)).await;
        if let Ok(conns) = opened {
            if let Ok(mut idle) = self.idle.lock() {
                idle.extend(conns.into_iter().flatten().map(|sender| Conn {
                    sender,
                    reused: false,
                    remaining: None,
                    server_idle: None,
                    idle_since: Instant::now(),
                }));
            }
        }
    }

    /// Whether an idle connection may still carry a request now.
    fn usable(&self, c: &Conn, now: Instant) -> Result<(), Closed> {
        if c.sender.is_closed() || !c.sender.is_ready() {
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
    pub async fn checkout(&self) -> Result<Conn, ConnectError> {
        let now = Instant::now();
        loop {
            let candidate = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
            let Some(mut c) = candidate else { break };
            match self.usable(&c, now) {
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
        self.fresh().await
    }

    /// A new connection, never an idle one (the retry after a reused connection failed).
    pub async fn fresh(&self) -> Result<Conn, ConnectError> {
        Ok(Conn {
            sender: self.connect().await?,
            reused: false,
            remaining: None,
            server_idle: None,
            idle_since: Instant::now(),
        })
    }

    async fn connect(&self) -> Result<Sender, ConnectError> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|source| ConnectError::Tcp {
                addr: self.addr,
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| ConnectError::Handshake {
                addr: self.addr,
                source,
            })?;
        self.counters.opened.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            // The connection ends when the server closes it or the sender is dropped; while it
            // is idle this task reads, so a FIN marks the sender closed.
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Counts a retry on a fresh connection.
    pub fn count_retry(&self) {
        self.counters.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Returns a connection whose last response was read completely, with what that response's
    /// headers said about reuse. A connection the server is closing is dropped.
    pub fn give_back(&self, mut c: Conn, hints: ReuseHints) {
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
    pub fn sweep(&self) {
        let now = Instant::now();
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        let before = idle.len();
        let mut server = 0;
        idle.retain(|c| match self.usable(c, now) {
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
    pub fn close_idle(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    /// How long the pool's idle connections may stay, at most.
    pub fn idle_limit(&self) -> Duration {
        self.idle_limit
    }

    pub fn stats(&self) -> ConnStats {
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
