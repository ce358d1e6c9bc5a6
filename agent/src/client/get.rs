//! A plain `GET` on the endpoint's server beside the measured requests: the server's model list
//! and the readiness checks of a sweep (`/health`, `/v1/models`).

use super::body::{read_capped, BodyEnd};
use super::exchange;
use super::pool::ConnPool;
use bytes::Bytes;
use http::{header, HeaderValue, Request, StatusCode};
use std::time::Duration;

/// Why a [`EndpointClient::get`](super::EndpointClient::get) got no whole answer.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    /// No connection (refused, unreachable, TLS handshake failed).
    #[error("{0}")]
    Connect(String),
    /// The path does not make a request URI.
    #[error("{0:?} is not a request path")]
    BadPath(String),
    /// The request or the response head failed on the connection.
    #[error("{0}")]
    Http(String),
    /// The answer (head and body) did not arrive within the limit.
    #[error("no answer within {} s", .0.as_secs_f64())]
    Timeout(Duration),
    /// The body ended in an error or was larger than the limit.
    #[error("body: {0}")]
    Body(&'static str),
}

/// Where a `GET` goes: the request target in HTTP/1.1's origin form (sent with `Host`) and in
/// HTTP/2's absolute form.
pub(super) struct GetTarget<'a> {
    pub(super) host: &'a HeaderValue,
    pub(super) origin_form: String,
    pub(super) absolute_form: String,
}

/// `GET` of `target` on one of `pool`'s connections within `limit`: the status and the body, at
/// most `max_body` bytes. The connection goes back to the pool when the body was read whole.
pub(super) async fn get(
    pool: &ConnPool,
    target: GetTarget<'_>,
    max_body: usize,
    limit: Duration,
) -> Result<(StatusCode, Bytes), GetError> {
    let deadline = tokio::time::Instant::now() + limit;
    tokio::time::timeout_at(deadline, get_within(pool, target, max_body, deadline))
        .await
        .map_err(|_| GetError::Timeout(limit))?
}

async fn get_within(
    pool: &ConnPool,
    target: GetTarget<'_>,
    max_body: usize,
    deadline: tokio::time::Instant,
) -> Result<(StatusCode, Bytes), GetError> {
    let conn = (pool.checkout().await).map_err(|e| GetError::Connect(e.to_string()))?;
    let builder = if conn.sender.is_h2() {
        Request::get(&target.absolute_form)
    } else {
        Request::get(&target.origin_form).header(header::HOST, target.host.clone())
    };
    let req =
        (builder.body(Bytes::new())).map_err(|_| GetError::BadPath(target.origin_form.clone()))?;
    let mut ex = (exchange::send(conn, req).await).map_err(|e| GetError::Http(e.to_string()))?;
    let status = ex.status;
    let (body, end) = read_capped(&mut ex, max_body, deadline).await;
    match end {
        BodyEnd::Complete => {
            ex.give_back(pool);
            Ok((status, Bytes::from(body)))
        }
        BodyEnd::OverCap => Err(GetError::Body("larger than the limit")),
        BodyEnd::Failed => Err(GetError::Body("the connection failed while reading it")),
        BodyEnd::TimedOut => Err(GetError::Body("not finished within the limit")),
    }
}
