//! HTTP plumbing shared by `sim serve` and `sim proxy`: the accept loop (hyper 1, HTTP/1.1
//! keep-alive, TCP_NODELAY on every accepted socket), the response body type, and JSON/error
//! response helpers.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::openai::error_body;
use crate::sse_body::SseBody;

/// Response body: a complete buffer or an SSE stream.
pub enum ResponseBody {
    Full(Option<Bytes>),
    Sse(Box<SseBody>),
    /// Fails on first poll: the connection is dropped (the `reset` fault on a non-streamed
    /// request).
    Reset,
    /// An upstream response streamed through (the P/D proxy).
    Upstream(crate::proxy::UpstreamBody),
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
            ResponseBody::Reset => Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected fault: reset",
            )))),
            ResponseBody::Upstream(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(b) => b.is_none(),
            ResponseBody::Sse(s) => s.is_end_stream(),
            ResponseBody::Reset => false,
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

pub fn full(
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

pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<ResponseBody> {
    full(status, "application/json", body)
}

pub fn error(
    status: StatusCode,
    kind: &str,
    message: &str,
    param: Option<&str>,
) -> Response<ResponseBody> {
    json(status, error_body(status.as_u16(), kind, message, param))
}

/// Accepts connections forever, serving each with `handler` on its own task.
pub async fn accept_loop<F, Fut>(listener: TcpListener, handler: F) -> anyhow::Result<()>
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
        let handler = handler.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let h = handler.clone();
                async move { Ok::<_, Infallible>(h(req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
}
