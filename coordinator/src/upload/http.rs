//! The uploads' HTTP: a blocking client (ureq over rustls with ring, the Hub client's) with
//! bounded waits and bounded answers; a status of 4xx or 5xx is an answer, not an error.

use std::io::Read;
use std::time::Duration;

/// The most of an answer's body kept (error messages, token and bucket answers).
const MAX_ANSWER: u64 = 64 * 1024;

/// A status, the headers and at most [`MAX_ANSWER`] bytes of the body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Answer {
    /// The first value of header `name` (any case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        (self.headers.iter())
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body's first line, shortened: what an error message quotes.
    pub(crate) fn excerpt(&self) -> String {
        let line = self.body.lines().map(str::trim).find(|l| !l.is_empty());
        let mut s: String = line.unwrap_or("").chars().take(300).collect();
        if s.is_empty() {
            s = "(empty body)".into();
        }
        s
    }
}

/// The client, shared by every request of an upload.
pub(crate) struct Http {
    agent: ureq::Agent,
}

impl Http {
    /// Connects within `connect`; a whole exchange within `total`.
    pub(crate) fn new(connect: Duration, total: Duration) -> Http {
        Http {
            agent: ureq::AgentBuilder::new()
                .timeout_connect(connect)
                .timeout(total)
                .redirects(0)
                .build(),
        }
    }

    /// One request; `Err` only when no answer came (connection, TLS, timeout).
    pub(crate) fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Answer, String> {
        let req = self.request(method, url, headers);
        let sent = if body.is_empty() && matches!(method, "GET" | "HEAD") {
            req.call()
        } else {
            req.send_bytes(body)
        };
        answer(method, sent)
    }

    /// One request whose body, `len` bytes, is read from `body` as it is sent.
    pub(crate) fn send_reader(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        len: u64,
        body: impl Read,
    ) -> Result<Answer, String> {
        let req = self.request(method, url, headers);
        answer(
            method,
            req.set("Content-Length", &len.to_string()).send(body),
        )
    }

    fn request(&self, method: &str, url: &str, headers: &[(String, String)]) -> ureq::Request {
        let mut req = self.agent.request(method, url);
        for (k, v) in headers {
            req = req.set(k, v);
        }
        req
    }
}

/// The answer, whatever its status; `Err` when none came.
fn answer(method: &str, sent: Result<ureq::Response, ureq::Error>) -> Result<Answer, String> {
    let resp = match sent {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        // The transport error names the URL.
        Err(ureq::Error::Transport(t)) => return Err(format!("{method} {t}")),
    };
    let status = resp.status();
    let headers = (resp.headers_names().into_iter())
        .filter_map(|n| resp.header(&n).map(|v| (n.clone(), v.to_string())))
        .collect();
    let mut body = Vec::new();
    if method != "HEAD" {
        let _ = resp.into_reader().take(MAX_ANSWER).read_to_end(&mut body);
    }
    Ok(Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| super::sigv4::uri_encode(s, false);
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    parts.join("&")
}
