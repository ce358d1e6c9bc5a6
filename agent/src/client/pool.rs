//! Keep-alive HTTP/1.1 connections to one endpoint, TCP_NODELAY on each (small SSE chunks must
//! not wait for Nagle). A request checks a connection out and gives it back when its response
//! was read to the end.

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Mutex;
use tokio::net::TcpStream;

pub type Sender = SendRequest<Full<Bytes>>;

#[derive(Debug)]
pub struct ConnPool {
    addr: SocketAddr,
    idle: Mutex<Vec<Sender>>,
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

impl ConnPool {
    pub fn new(addr: SocketAddr) -> Self {
        ConnPool {
            addr,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Opens up to `n` connections (until `deadline`) and keeps them idle.
    pub async fn prewarm(&self, n: usize, deadline: std::time::Instant) {
        let have = self.idle.lock().map(|v| v.len()).unwrap_or(0);
        let opening = (have..n).map(|_| self.connect());
        let opened =
            tokio::time::timeout_at(deadline.into(), futures::future::join_all(opening)).await;
        if let Ok(conns) = opened {
            if let Ok(mut idle) = self.idle.lock() {
                idle.extend(conns.into_iter().flatten());
            }
        }
    }

    /// An idle connection, or a new one.
    pub async fn checkout(&self) -> Result<Sender, ConnectError> {
        loop {
            let candidate = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
            match candidate {
                Some(s) if s.is_ready() => return Ok(s),
                Some(_) => continue,
                None => break,
            }
        }
        self.connect().await
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
        tokio::spawn(async move {
            // The connection ends when the server closes it or the sender is dropped.
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Returns a connection whose last response was read completely.
    pub fn give_back(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(sender);
        }
    }
}
