//! An HTTP/1.1 response head (status line and header fields, parsed by `httparse`), the
//! framing of the body that follows it, and whether the connection may carry another request.

use super::framing::Framing;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// The most header fields a response head may carry.
const MAX_HEADERS: usize = 128;

/// A response head.
#[derive(Debug)]
pub(crate) struct Head {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// Whether the connection may carry another request once the body was read (HTTP/1.1
    /// without `Connection: close`, HTTP/1.0 with `Connection: keep-alive`, a delimited body).
    pub keep_alive: bool,
}

/// Parses a response head at the start of `buf`: the head and its length, or `None` while it
/// is incomplete. Errors name what is wrong.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Head, usize)>, String> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut fields);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Partial) => return Ok(None),
        Ok(httparse::Status::Complete(len)) => len,
        Err(e) => return Err(format!("response head: {e}")),
    };
    let code = resp.code.unwrap_or_default();
    let status = StatusCode::from_u16(code).map_err(|_| format!("response head: status {code}"))?;
    let mut headers = HeaderMap::with_capacity(resp.headers.len());
    for f in resp.headers.iter() {
        let name = HeaderName::from_bytes(f.name.as_bytes())
            .map_err(|_| format!("response head: header name {:?}", f.name))?;
        let value = HeaderValue::from_bytes(f.value)
            .map_err(|_| format!("response head: value of {:?}", f.name))?;
        headers.append(name, value);
    }
    let framing = framing(status, &headers)?;
    let http10 = resp.version == Some(0);
    let connection = tokens(&headers, http::header::CONNECTION);
    // Both `Transfer-Encoding` and `Content-Length`: the coding wins, and a connection whose
    // framing two fields disputed is not trusted with another request (RFC 9112 §6.3).
    let disputed = headers.contains_key(http::header::TRANSFER_ENCODING)
        && headers.contains_key(http::header::CONTENT_LENGTH);
    let keep_alive = framing != Framing::Close
        && !disputed
        && !connection.iter().any(|t| t == "close")
        && (!http10 || connection.iter().any(|t| t == "keep-alive"));
    Ok(Some((
        Head {
            status,
            headers,
            framing,
            keep_alive,
        },
        len,
    )))
}

/// The body's framing (RFC 9112 §6.3) for a response to `GET` or `POST`.
fn framing(status: StatusCode, headers: &HeaderMap) -> Result<Framing, String> {
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(Framing::Length(0));
    }
    let codings = tokens(headers, http::header::TRANSFER_ENCODING);
    if let Some(last) = codings.last() {
        // Chunked last: its end delimits the body; any other coding: the close does.
        return Ok(if last == "chunked" {
            Framing::Chunked
        } else {
            Framing::Close
        });
    }
    let mut length = None;
    for v in headers.get_all(http::header::CONTENT_LENGTH) {
        for part in v.as_bytes().split(|b| *b == b',') {
            let part = part.trim_ascii();
            let n = std::str::from_utf8(part)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| format!("response head: Content-Length {v:?}"))?;
            if length.is_some_and(|l| l != n) {
                return Err("response head: Content-Length values differ".to_string());
            }
            length = Some(n);
        }
    }
    Ok(length.map_or(Framing::Close, Framing::Length))
}

/// The comma-separated tokens of every `name` field, trimmed and lowercased.
fn tokens(headers: &HeaderMap, name: HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        let (head, len) = parse(text.as_bytes()).unwrap().unwrap();
        assert_eq!(len, text.len());
        head
    }

    #[test]
    fn framing_and_reuse_follow_the_head() {
        let h = head("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, true));
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(12), false));
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Close, false));
        let h = head("HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\n");
        assert!(!h.keep_alive, "HTTP/1.0 closes unless it says keep-alive");
        let h = head("HTTP/1.0 200 OK\r\ncontent-length: 2\r\nconnection: Keep-Alive\r\n\r\n");
        assert!(h.keep_alive);
        let h = head("HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(0));
        let h = head("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ncontent-length: 3\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Close, false));
        let h = head("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, false));
        let h = head("HTTP/1.1 100 Continue\r\n\r\n");
        assert!(h.status.is_informational());
    }

    #[test]
    fn partial_and_broken_heads() {
        assert!(parse(b"HTTP/1.1 200 OK\r\ncontent-le").unwrap().is_none());
        assert!(parse(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\ncontent-length: 1, 2\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n").is_err());
        let many: String = (0..200).map(|i| format!("x-{i}: v\r\n")).collect();
        assert!(parse(format!("HTTP/1.1 200 OK\r\n{many}\r\n").as_bytes()).is_err());
        let h = head("HTTP/1.1 200 OK\r\ncontent-length: 5, 5\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(5));
    }
}
