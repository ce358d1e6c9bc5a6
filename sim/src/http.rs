//! HTTP plumbing shared by `sim serve` and `sim proxy`: the listening socket (a deep backlog),
//! the accept loop (hyper 1, HTTP/1.1
//! keep-alive or HTTP/2 (h2c by prior knowledge, or `h2` by ALPN under `--tls-cert`),
//! TCP_NODELAY on every accepted socket; optionally llama.cpp's connection habits:
//! close after each response, a fixed pool of HTTP workers held by idle connections), the
//! response body type, and JSON/error response helpers.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as AutoBuilder;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Notify, Semaphore};

use crate::openai::error_body;
use crate::sse_body::SseBody;

/// Response body: a complete buffer or an SSE stream.
pub(crate) enum ResponseBody {
    Full(Option<Bytes>),
    Sse(Box<SseBody>),
    /// Fails on first poll: the connection is dropped (the `reset` fault on a non-streamed
    /// request).
    Reset,
    /// No response at all: the connection is closed (HTTP/2: the stream reset) before any
    /// response byte (the `drop` fault).
    Drop,
    /// An upstream response streamed through (the P/D proxy's body type).
    Upstream(Pin<Box<dyn Body<Data = Bytes, Error = std::io::Error> + Send>>),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            ResponseBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Sse(s) => Pin::new(s.as_mut()).poll_frame(cx),
            ResponseBody::Drop => Poll::Ready(None),
            ResponseBody::Reset => Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected fault: reset",
            )))),
            ResponseBody::Upstream(b) => b.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(b) => b.is_none(),
            ResponseBody::Sse(s) => s.is_end_stream(),
            ResponseBody::Reset => false,
            ResponseBody::Drop => true,
            ResponseBody::Upstream(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            ResponseBody::Full(None) => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

pub(crate) fn full(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<ResponseBody> {
    let mut r = Response::new(ResponseBody::Full(Some(body.into())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<ResponseBody> {
    full(status, "application/json", body)
}

pub(crate) fn error(
    status: StatusCode,
    kind: &str,
    message: &str,
    param: Option<&str>,
) -> Response<ResponseBody> {
    json(status, error_body(status.as_u16(), kind, message, param))
}

/// How the server treats its connections: by default like vLLM's uvicorn (keep-alive, no limit
/// on connections); the engine modes imitate llama.cpp's `llama-server`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnPolicy {
    /// Close the connection after each response although the response advertises keep-alive
    /// (`Connection: keep-alive`, `Keep-Alive: timeout=5, max=100`).
    pub(crate) close_after_response: bool,
    /// A fixed number of HTTP worker threads: each connection holds one from the moment it is
    /// served until it closes (idle keep-alive included); further connections wait, their
    /// requests unread, until a worker is free.
    pub(crate) workers: Option<Arc<Semaphore>>,
    /// With `workers`: an idle connection is closed after this long without a request.
    pub(crate) keep_alive_timeout: Duration,
    /// Serve HTTPS (`--tls-cert/--tls-key`).
    pub(crate) tls: Option<crate::tls::SimTls>,
}

impl ConnPolicy {
    /// Whether this policy changes anything per connection.
    fn tracks(&self) -> bool {
        self.close_after_response || self.workers.is_some()
    }
}

/// A connection's requests in flight and when the last one ended (for the idle timeout and the
/// close after a response).
#[derive(Debug)]
struct ConnActivity {
    in_flight: std::sync::atomic::AtomicUsize,
    last_end: std::sync::Mutex<Instant>,
    ended: Notify,
}

/// A response body that tells its connection when it ended.
struct Tracked {
    inner: ResponseBody,
    activity: Option<Arc<ConnActivity>>,
}

impl Tracked {
    fn end(&mut self) {
        if let Some(a) = self.activity.take() {
            if let Ok(mut t) = a.last_end.lock() {
                *t = Instant::now();
            }
            a.in_flight
                .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            a.ended.notify_one();
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.end();
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(None) = r {
            this.end();
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Listen backlog of the sim's sockets: the kernel caps it at `net.core.somaxconn`. tokio's
/// `TcpListener::bind` asks for 1,024, which a closed-loop client opening 10,000 connections at
/// once overflows (dropped SYNs, retried after 1 s and more: TTFTs of the kernel's, not the
/// engine's, making).
const LISTEN_BACKLOG: u32 = 65_535;

/// Binds `addr` (SO_REUSEADDR, as `TcpListener::bind`) with the sim's listen backlog.
pub(crate) fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accepts connections forever, serving each with `handler` on its own task.
pub(crate) async fn accept_loop<F, Fut>(listener: TcpListener, handler: F) -> anyhow::Result<()>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<ResponseBody>> + Send + 'static,
{
    accept_loop_with(listener, handler, ConnPolicy::default()).await
}

/// [`accept_loop`] with a connection policy.
pub(crate) async fn accept_loop_with<F, Fut>(
    listener: TcpListener,
    handler: F,
    policy: ConnPolicy,
) -> anyhow::Result<()>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<ResponseBody>> + Send + 'static,
{
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!("TCP_NODELAY not set: {e}");
        }
        // A fixed worker pool: the connection waits (accepted, unread) for a free worker.
        let worker = match &policy.workers {
            Some(w) => match w.clone().acquire_owned().await {
                Ok(p) => Some(p),
                Err(_) => continue,
            },
            None => None,
        };
        let handler = handler.clone();
        let policy = policy.clone();
        tokio::spawn(async move {
            let _worker = worker;
            match &policy.tls {
                None => serve_connection(stream, handler, &policy).await,
                Some(tls) => match tls.0.accept(stream).await {
                    Ok(s) => serve_connection(s, handler, &policy).await,
                    Err(e) => tracing::debug!("TLS handshake failed: {e}"),
                },
            }
        });
    }
}

/// Serves one connection (HTTP/1.1 keep-alive, or HTTP/2: by ALPN over TLS, by the client's
/// preface in cleartext) until it ends or the policy closes it.
async fn serve_connection<I, F, Fut>(io: I, handler: F, policy: &ConnPolicy)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<ResponseBody>> + Send + 'static,
{
    let activity = policy.tracks().then(|| {
        Arc::new(ConnActivity {
            in_flight: Default::default(),
            last_end: std::sync::Mutex::new(Instant::now()),
            ended: Notify::new(),
        })
    });
    let close_after = policy.close_after_response;
    let act = activity.clone();
    let svc = service_fn(move |req| {
        let h = handler.clone();
        let act = act.clone();
        async move {
            if let Some(a) = &act {
                a.in_flight
                    .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            }
            let (mut parts, inner) = h(req).await.into_parts();
            if let ResponseBody::Drop = inner {
                // The request ends here for the connection's bookkeeping; the service error
                // makes hyper close the connection without writing a response.
                drop(Tracked {
                    inner,
                    activity: act,
                });
                return Err(std::io::Error::other("injected fault: drop"));
            }
            if close_after {
                // What llama.cpp's server says, before it closes anyway.
                parts
                    .headers
                    .insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
                parts
                    .headers
                    .insert("keep-alive", HeaderValue::from_static("timeout=5, max=100"));
            }
            let body = Tracked {
                inner,
                activity: act,
            };
            Ok::<_, std::io::Error>(Response::from_parts(parts, body))
        }
    });
    let mut builder = AutoBuilder::new(TokioExecutor::new());
    builder.http1().keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let Some(activity) = activity else {
        if let Err(e) = conn.await {
            tracing::debug!("connection ended: {e}");
        }
        return;
    };
    let idle_limit = policy.keep_alive_timeout;
    loop {
        let idle_check = async {
            if policy.workers.is_some() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!("connection ended: {e}");
                }
                return;
            }
            _ = activity.ended.notified(), if close_after => {
                if activity.in_flight.load(std::sync::atomic::Ordering::Acquire) == 0 {
                    // Let hyper flush the end of the response, then close.
                    conn.as_mut().graceful_shutdown();
                }
            }
            _ = idle_check => {
                let idle = activity.in_flight.load(std::sync::atomic::Ordering::Acquire) == 0
                    && activity.last_end.lock().map(|t| t.elapsed() >= idle_limit).unwrap_or(false);
                if idle {
                    // Dropping the connection closes the socket and frees the worker.
                    return;
                }
            }
        }
    }
}
