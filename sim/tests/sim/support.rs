//! Test support: start the real `sim` binary and talk HTTP/1.1 to it with a hyper client that
//! records the arrival time of every frame.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A running `sim` process, killed on drop.
pub struct Sim {
    child: Child,
    pub addr: SocketAddr,
}

impl Sim {
    /// Starts `sim ARGS... --listen 127.0.0.1:0` and reads its `listening on ADDR` line.
    pub fn start(args: &[&str]) -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sim"))
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sim");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("sim {args:?} did not announce its address");
            }
        };
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("address");
        Sim { child, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What came back for one request.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    /// When the request was sent.
    pub sent_at: Instant,
    /// When the response headers arrived.
    pub headers_at: Instant,
    /// Each data frame and its arrival time.
    pub frames: Vec<(Instant, Bytes)>,
    /// A body error (e.g. the connection closed mid-stream).
    pub error: Option<String>,
}

/// One SSE event's data and the arrival time of the frame that carried it.
#[derive(Debug, Clone)]
pub struct Event {
    pub at: Instant,
    pub data: String,
}

impl Reply {
    pub fn body(&self) -> Vec<u8> {
        self.frames.iter().flat_map(|(_, b)| b.to_vec()).collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body()).expect("JSON body")
    }

    /// SSE events (`data: ...`) in order, each with the arrival time of the frame that
    /// completed it (the client may get an event split over several reads).
    pub fn events(&self) -> Vec<Event> {
        let mut out = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        for (at, b) in &self.frames {
            pending.extend_from_slice(b);
            while let Some(i) = pending.windows(2).position(|w| w == b"\n\n") {
                let ev: Vec<u8> = pending.drain(..i + 2).collect();
                let text = std::str::from_utf8(&ev[..i]).expect("utf-8");
                let data = text.strip_prefix("data: ").expect("data: prefix");
                out.push(Event {
                    at: *at,
                    data: data.to_string(),
                });
            }
        }
        out
    }

    /// Events that carry one output token (completions `text` or chat `delta.content`
    /// non-empty), with their arrival times.
    pub fn token_events(&self) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&e.data) else {
                    return false;
                };
                let c = &v["choices"][0];
                let t = c["text"]
                    .as_str()
                    .or_else(|| c["delta"]["content"].as_str())
                    .unwrap_or("");
                !t.is_empty()
            })
            .collect()
    }
}

/// POSTs `body` (JSON) to `path` on a fresh connection.
pub async fn post(addr: SocketAddr, path: &str, body: &str, headers: &[(&str, &str)]) -> Reply {
    request(addr, http::Method::POST, path, body, headers).await
}

/// GETs `path`.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, http::Method::GET, path, "", &[]).await
}

async fn request(
    addr: SocketAddr,
    method: http::Method,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let sent_at = Instant::now();
    let resp = sender.send_request(req).await.expect("response");
    let headers_at = Instant::now();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut body = resp.into_body();
    let mut frames = Vec::new();
    let mut error = None;
    loop {
        match body.frame().await {
            None => break,
            Some(Ok(f)) => {
                if let Ok(d) = f.into_data() {
                    frames.push((Instant::now(), d));
                }
            }
            Some(Err(e)) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    Reply {
        status,
        headers,
        sent_at,
        headers_at,
        frames,
        error,
    }
}

/// A streamed completion request body.
pub fn completion(prompt: &str, max_tokens: u32, extra: &str) -> String {
    let prompt = serde_json::to_string(prompt).expect("prompt");
    format!(
        r#"{{"model":"sim-model","prompt":{prompt},"max_tokens":{max_tokens},"stream":true,"ignore_eos":true{extra}}}"#
    )
}

/// `n` distinct words starting with `tag`.
pub fn words(tag: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("{tag}{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses `/metrics` with a real Prometheus text parser. (`prometheus-parse` 0.2 cannot be
/// used: its name pattern `\w+` drops every metric whose name has a colon, i.e. all of vLLM's.)
pub async fn scrape(addr: SocketAddr) -> Metrics {
    let r = get(addr, "/metrics").await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body()).expect("utf-8");
    let scrape = prom_text_format_parser::Scrape::parse(&text).expect("Prometheus text");
    Metrics(scrape.metrics)
}

/// A parsed scrape.
pub struct Metrics(pub Vec<prom_text_format_parser::Metric>);

impl Metrics {
    pub fn metric(&self, name: &str) -> &prom_text_format_parser::Metric {
        self.0
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no metric {name}"))
    }
}

/// The value of the (first) sample of counter or gauge `name`.
pub fn sample(s: &Metrics, name: &str) -> f64 {
    s.metric(name).samples[0].value.value.as_f64()
}

/// Writes a test engine card to a temp file and returns its path.
pub fn card_file(name: &str, yaml: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fleetbench-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, yaml).expect("write card");
    p
}

/// Mean of a slice of durations in seconds.
pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.iter().sum::<f64>() / v.len() as f64
}
