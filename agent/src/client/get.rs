//! A plain `GET` on the endpoint's server beside the measured requests: the server's model list
//! and the readiness checks of a sweep (`/health`, `/v1/models`).

use super::{read_capped, BodyEnd, EndpointClient, ReuseHints};
use bytes::Bytes;
use http::{header, Request, StatusCode};
use http_body_util::Full;
use std::time::Duration;

/// Why a [`EndpointClient::get`] got no whole answer.
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
    Http(#[from] hyper::Error),
    /// The answer (head and body) did not arrive within the limit.
    #[error("no answer within {} s", .0.as_secs_f64())]
    Timeout(Duration),
    /// The body ended in an error or was larger than the limit.
    #[error("body: {0}")]
    Body(&'static str),
}

impl EndpointClient {
    /// `GET` of `path` (`/health`, `/v1/models`) under the base URL's path, on one of this
    /// client's connections, within `limit`: the status and the body, at most `max_body` bytes.
    pub async fn get(
        &self,
        path: &str,
        max_body: usize,
        limit: Duration,
    ) -> Result<(StatusCode, Bytes), GetError> {
        let deadline = tokio::time::Instant::now() + limit;
        tokio::time::timeout_at(deadline, self.get_within(path, max_body, deadline))
            .await
            .map_err(|_| GetError::Timeout(limit))?
    }

    async fn get_within(
        &self,
        path: &str,
        max_body: usize,
        deadline: tokio::time::Instant,
    ) -> Result<(StatusCode, Bytes), GetError> {
        let base = self
            .path
            .path()
            .trim_end_matches("/v1/chat/completions")
            .trim_end_matches("/v1/completions");
        let mut conn =
            (self.pool.checkout().await).map_err(|e| GetError::Connect(e.to_string()))?;
        let builder = if conn.sender.is_h2() {
            let scheme = self.absolute.scheme_str().unwrap_or("http");
            let authority = self.absolute.authority().map(|a| a.as_str()).unwrap_or("");
            Request::get(format!("{scheme}://{authority}{base}{path}"))
        } else {
            Request::get(format!("{base}{path}")).header(header::HOST, self.host.clone())
        };
        let req = (builder.body(Full::new(Bytes::new())))
            .map_err(|_| GetError::BadPath(path.to_string()))?;
        let resp = conn.sender.send_request(req).await?;
        let status = resp.status();
        let hints = ReuseHints::from_headers(resp.headers());
        let (body, end) = read_capped(&mut resp.into_body(), max_body, deadline).await;
        match end {
            BodyEnd::Complete => {
                self.pool.give_back(conn, hints);
                Ok((status, Bytes::from(body)))
            }
            BodyEnd::OverCap => Err(GetError::Body("larger than the limit")),
            BodyEnd::Failed => Err(GetError::Body("the connection failed while reading it")),
            BodyEnd::TimedOut => Err(GetError::Body("not finished within the limit")),
        }
    }
}
