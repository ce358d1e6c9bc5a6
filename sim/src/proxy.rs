//! `sim proxy`: the P/D disaggregation proxy, shaped like vLLM's / llm-d's. Each request goes
//! to a prefill instance (round robin) as a non-streamed `max_tokens: 1` request marked
//! `kv_transfer_params: {"do_remote_decode": true}`; the proxy then waits the simulated KV
//! transfer time (`--kv-transfer-us-per-token` × prompt tokens) and forwards the original
//! request, plus the prefill instance's `kv_transfer_params` handle, to a decode instance
//! (round robin), streaming its response bytes back unchanged. The handle carries the transfer
//! time waited (`sim_kv_transfer_us`), which the decode instance exports as NIXL's transfer
//! time. `--decode-only` is the decode-only fallback fault: no prefill, no handle.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::cli::ProxyArgs;
use crate::faults::FAULT_HEADER;
use crate::http::{accept_loop, ResponseBody};
use crate::openai::{error_body, KV_TRANSFER_US};

/// A decode instance's response streamed through; its connection goes back to the pool when
/// the body has been read to the end.
pub(crate) struct UpstreamBody {
    body: Incoming,
    conn: Option<(Sender, Arc<ConnPool>)>,
}

impl http_body::Body for UpstreamBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        let r = std::pin::Pin::new(&mut this.body)
            .poll_frame(cx)
            .map(|o| o.map(|r| r.map_err(std::io::Error::other)));
        if let std::task::Poll::Ready(None) = r {
            if let Some((conn, pool)) = this.conn.take() {
                pool.put(conn);
            }
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        // Polled to the end, so the connection goes back to the pool.
        self.conn.is_none() && self.body.is_end_stream()
    }
}

/// A bad `sim proxy` command line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyConfigError {
    #[error("--{flag} {url}: expected http://HOST:PORT")]
    BadUrl { flag: &'static str, url: String },
    #[error("--kv-transfer-us-per-token must be finite and >= 0")]
    BadTransfer,
}

/// Failure talking to an upstream instance.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("HTTP to {addr}: {source}")]
    Http { addr: String, source: hyper::Error },
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Idle keep-alive connections to one upstream, reused so the proxy does not open (and leave
/// in TIME_WAIT) two connections per request.
#[derive(Debug, Default)]
pub(crate) struct ConnPool {
    idle: std::sync::Mutex<Vec<Sender>>,
}

impl ConnPool {
    const MAX_IDLE: usize = 256;

    /// Returns a connection to the pool if it can take another request later.
    pub(crate) fn put(&self, s: Sender) {
        if s.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < Self::MAX_IDLE {
                idle.push(s);
            }
        }
    }

    async fn get(&self, addr: &str) -> Result<Sender, UpstreamError> {
        loop {
            let Some(mut s) = self.idle.lock().ok().and_then(|mut v| v.pop()) else {
                break;
            };
            if s.is_closed() {
                continue;
            }
            if let Ok(Ok(())) = tokio::time::timeout(Duration::from_millis(50), s.ready()).await {
                return Ok(s);
            }
        }
        connect(addr).await
    }
}

#[derive(Debug)]
struct Upstreams {
    addrs: Vec<String>,
    pools: Vec<Arc<ConnPool>>,
    next: AtomicUsize,
}

impl Upstreams {
    fn parse(flag: &'static str, urls: &[String]) -> Result<Upstreams, ProxyConfigError> {
        let mut addrs = Vec::new();
        for url in urls {
            let bad = || ProxyConfigError::BadUrl {
                flag,
                url: url.clone(),
            };
            let uri: Uri = url.parse().map_err(|_| bad())?;
            if uri.scheme_str() != Some("http") {
                return Err(bad());
            }
            let auth = uri.authority().ok_or_else(bad)?;
            let port = auth.port_u16().unwrap_or(80);
            addrs.push(format!("{}:{port}", auth.host()));
        }
        Ok(Upstreams {
            pools: addrs.iter().map(|_| Arc::default()).collect(),
            addrs,
            next: AtomicUsize::new(0),
        })
    }

    fn pick(&self) -> (&str, &Arc<ConnPool>) {
        let i = self.next.fetch_add(1, Relaxed) % self.addrs.len();
        (&self.addrs[i], &self.pools[i])
    }
}

struct ProxyState {
    prefill: Upstreams,
    decode: Upstreams,
    us_per_token: f64,
    decode_only: bool,
}

/// Runs the proxy until the process ends (prints `listening on ADDR` first).
pub async fn run_proxy(args: ProxyArgs) -> anyhow::Result<()> {
    if !(args.kv_transfer_us_per_token.is_finite() && args.kv_transfer_us_per_token >= 0.0) {
        return Err(ProxyConfigError::BadTransfer.into());
    }
    let state = Arc::new(ProxyState {
        prefill: Upstreams::parse("prefill", &args.prefill)?,
        decode: Upstreams::parse("decode", &args.decode)?,
        us_per_token: args.kv_transfer_us_per_token,
        decode_only: args.decode_only,
    });
    if state.decode_only {
        tracing::warn!("fault --decode-only: requests skip the prefill instances");
    }
    let listener = crate::http::listen(args.listen)?;
    let addr = listener.local_addr()?;
    crate::announce(addr);
    tracing::info!(%addr, prefill = ?state.prefill.addrs, decode = ?state.decode.addrs, "sim proxy");
    accept_loop(listener, move |req| handle(state.clone(), req)).await
}

fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<ResponseBody> {
    let mut r = Response::new(ResponseBody::Full(Some(body.into())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn bad_gateway(e: UpstreamError) -> Response<ResponseBody> {
    json_response(
        StatusCode::BAD_GATEWAY,
        error_body(502, "BadGatewayError", &e.to_string(), None),
    )
}

async fn connect(addr: &str) -> Result<Sender, UpstreamError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| UpstreamError::Connect {
            addr: addr.to_string(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|source| UpstreamError::Http {
            addr: addr.to_string(),
            source,
        })?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("upstream connection: {e}");
        }
    });
    Ok(sender)
}

/// Sends one request to `addr` on a pooled connection; returns the response and the
/// connection, to be put back once the response body has been read.
async fn send(
    method: Method,
    addr: &str,
    pool: &ConnPool,
    path: &str,
    headers: &[(&'static str, HeaderValue)],
    body: Bytes,
) -> Result<(Response<Incoming>, Sender), UpstreamError> {
    let mut sender = pool.get(addr).await?;
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, addr)
        .header(header::CONTENT_TYPE, "application/json");
    for (k, v) in headers {
        req = req.header(*k, v.clone());
    }
    let req = req
        .body(Full::new(body))
        .map_err(|e| UpstreamError::Connect {
            addr: addr.to_string(),
            source: std::io::Error::other(e),
        })?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|source| UpstreamError::Http {
            addr: addr.to_string(),
            source,
        })?;
    Ok((resp, sender))
}

async fn handle(state: Arc<ProxyState>, req: Request<Incoming>) -> Response<ResponseBody> {
    let path = req.uri().path().to_string();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/health") => return json_response(StatusCode::OK, Bytes::new()),
        (&Method::POST, "/v1/completions" | "/v1/chat/completions") => {}
        (&Method::GET, "/v1/models") => {
            // The decode instances serve the same models: ask one.
            let (addr, pool) = state.decode.pick();
            return match send(Method::GET, addr, pool, &path, &[], Bytes::new()).await {
                Ok((resp, conn)) => {
                    let status = resp.status();
                    match resp.into_body().collect().await {
                        Ok(b) => {
                            pool.put(conn);
                            json_response(status, b.to_bytes())
                        }
                        Err(source) => bad_gateway(UpstreamError::Http {
                            addr: addr.to_string(),
                            source,
                        }),
                    }
                }
                Err(e) => bad_gateway(e),
            };
        }
        _ => return json_response(StatusCode::NOT_FOUND, r#"{"detail":"Not Found"}"#),
    }
    let mut fwd: Vec<(&'static str, HeaderValue)> = Vec::new();
    if let Some(v) = req.headers().get("x-request-id") {
        fwd.push(("x-request-id", v.clone()));
    }
    let fault = req.headers().get(FAULT_HEADER).cloned();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                error_body(
                    400,
                    "BadRequestError",
                    &format!("cannot read body: {e}"),
                    None,
                ),
            )
        }
    };
    let mut original: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return json_response(
                StatusCode::BAD_REQUEST,
                error_body(400, "BadRequestError", "body must be a JSON object", None),
            )
        }
    };

    if !state.decode_only {
        if let Err(r) = prefill_and_transfer(&state, &path, &fwd, &mut original).await {
            return *r;
        }
    }
    // Decode (the fault header, if any, goes to the decode instance), streamed back as is.
    if let Some(f) = fault {
        fwd.push((FAULT_HEADER, f));
    }
    let (decode_addr, decode_pool) = state.decode.pick();
    let (resp, conn) = match send(
        Method::POST,
        decode_addr,
        decode_pool,
        &path,
        &fwd,
        Bytes::from(original.to_string()),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return bad_gateway(e),
    };
    let (parts, body) = resp.into_parts();
    let mut r = Response::new(ResponseBody::Upstream(Box::pin(UpstreamBody {
        body,
        conn: Some((conn, decode_pool.clone())),
    })));
    *r.status_mut() = parts.status;
    for name in [header::CONTENT_TYPE, header::CACHE_CONTROL] {
        if let Some(v) = parts.headers.get(&name) {
            r.headers_mut().insert(name, v.clone());
        }
    }
    if let Some(v) = parts.headers.get("x-request-id") {
        r.headers_mut().insert("x-request-id", v.clone());
    }
    r
}

/// Prefill on a prefill instance, then the KV transfer wait; on success `original` carries the
/// prefill instance's KV handle, with the transfer time waited, for the decode instance.
async fn prefill_and_transfer(
    state: &ProxyState,
    path: &str,
    fwd: &[(&'static str, HeaderValue)],
    original: &mut Value,
) -> Result<(), Box<Response<ResponseBody>>> {
    let mut prefill = original.clone();
    if let Some(o) = prefill.as_object_mut() {
        o.insert("stream".into(), Value::Bool(false));
        o.remove("stream_options");
        o.remove("max_completion_tokens");
        o.insert("max_tokens".into(), Value::from(1));
        o.insert(
            "kv_transfer_params".into(),
            serde_json::json!({"do_remote_decode": true}),
        );
    }
    let (prefill_addr, prefill_pool) = state.prefill.pick();
    let (resp, conn) = send(
        Method::POST,
        prefill_addr,
        prefill_pool,
        path,
        fwd,
        Bytes::from(prefill.to_string()),
    )
    .await
    .map_err(|e| Box::new(bad_gateway(e)))?;
    let status = resp.status();
    let presp = match resp.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Err(Box::new(bad_gateway(UpstreamError::Http {
                addr: prefill_addr.to_string(),
                source: e,
            })))
        }
    };
    prefill_pool.put(conn);
    if !status.is_success() {
        return Err(Box::new(json_response(status, presp)));
    }
    let presp: Value = serde_json::from_slice(&presp).unwrap_or(Value::Null);
    let prompt_tokens = presp
        .pointer("/usage/prompt_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let mut handle = presp
        .get("kv_transfer_params")
        .cloned()
        .unwrap_or(Value::Null);

    // KV transfer.
    let us = state.us_per_token * prompt_tokens as f64;
    tokio::time::sleep(Duration::from_secs_f64(us / 1e6)).await;
    if let Some(h) = handle.as_object_mut() {
        h.insert(KV_TRANSFER_US.into(), Value::from(us));
    }
    if let Some(o) = original.as_object_mut() {
        o.insert("kv_transfer_params".into(), handle);
    }
    Ok(())
}
