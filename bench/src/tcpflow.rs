//! What a packet capture says about the HTTP/1.1 exchanges with one server: per TCP connection
//! the client→server and server→client bytes reassembled in sequence order (retransmissions
//! and out-of-order segments handled), the requests parsed (method line, `x-request-id`,
//! `content-length`) and the responses parsed (status, chunked or sized body, SSE events).
//! Every byte keeps the kernel timestamp of the segment that first carried it, so each request
//! has the instant its first byte went on the wire and each SSE event the instant its last
//! byte did. Buffers hold only bytes not parsed yet, bounded per connection.

use crate::pcap::Segment;
use std::collections::{HashMap, VecDeque};

pub(crate) type Endpoint = ([u8; 4], u16);

/// Most bytes a connection may hold unparsed (an HTTP head or an SSE line longer is an error).
const MAX_UNPARSED: usize = 1 << 20;
/// Most segments held out of order per direction.
const MAX_OUT_OF_ORDER: usize = 4096;
/// Most connections followed.
const MAX_FLOWS: usize = 200_000;
/// Most content events kept per response.
const MAX_EVENTS: usize = 100_000;

/// One request and its response as the wire carried them (instants: Unix ns, kernel clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exchange {
    /// The connection's client port.
    pub(crate) client_port: u16,
    pub(crate) request_id: Option<String>,
    /// The request's first byte (its method line) on the wire.
    pub(crate) request_first_ns: i64,
    /// For the connection's first request (the client opened it for this one): the instant of
    /// the client's first SYN (a retransmitted SYN keeps the first one's instant). None on a
    /// reused connection.
    pub(crate) connect_ns: Option<i64>,
    /// Status of the response (0: none seen).
    pub(crate) status: u16,
    /// Per SSE event carrying content (text), the instant its last byte was on the wire.
    pub(crate) content_ns: Vec<i64>,
    /// The response's last byte (None: it never completed in the capture).
    pub(crate) end_ns: Option<i64>,
}

/// One direction's bytes, in sequence order, with the instant each arrived.
#[derive(Default)]
struct ByteStream {
    next_seq: Option<u32>,
    /// Stream offset of `buf[0]`.
    base: u64,
    buf: Vec<u8>,
    /// (stream offset one past a segment's last byte, its timestamp), oldest first.
    stamps: VecDeque<(u64, i64)>,
    pending: Vec<(u32, i64, Vec<u8>)>,
    /// The instant of the last byte consumed.
    last_ns: i64,
}

impl ByteStream {
    fn push(&mut self, s: &Segment) -> Result<(), String> {
        if s.syn {
            self.next_seq = Some(s.seq.wrapping_add(1));
        }
        if s.payload.is_empty() || self.next_seq.is_none() {
            // Before the SYN (a connection the capture joined late) bytes cannot be placed.
            return Ok(());
        }
        if s.truncated {
            return Err("a segment was cut by the capture's snap length".into());
        }
        let seq = if s.syn { s.seq.wrapping_add(1) } else { s.seq };
        self.insert(seq, s.ts_ns, s.payload.clone())?;
        // Segments held back may now be in order.
        while let Some(i) = self
            .pending
            .iter()
            .position(|(seq, _, _)| (seq.wrapping_sub(self.next_seq.unwrap_or(0)) as i32) <= 0)
        {
            let (seq, ts, p) = self.pending.swap_remove(i);
            self.insert(seq, ts, p)?;
        }
        if self.buf.len() > MAX_UNPARSED {
            return Err(format!(
                "more than {MAX_UNPARSED} bytes not parseable as HTTP/1.1"
            ));
        }
        Ok(())
    }

    fn insert(&mut self, seq: u32, ts: i64, payload: Vec<u8>) -> Result<(), String> {
        let next = self.next_seq.unwrap_or(seq);
        let ahead = seq.wrapping_sub(next) as i32;
        if ahead > 0 {
            if self.pending.len() >= MAX_OUT_OF_ORDER {
                return Err(format!(
                    "more than {MAX_OUT_OF_ORDER} segments out of order (bytes lost by the capture?)"
                ));
            }
            self.pending.push((seq, ts, payload));
            return Ok(());
        }
        // Bytes already seen (a retransmission) keep their first instant.
        let skip = ahead.unsigned_abs() as usize;
        if skip >= payload.len() {
            return Ok(());
        }
        let new = &payload[skip..];
        self.buf.extend_from_slice(new);
        self.next_seq = Some(next.wrapping_add(new.len() as u32));
        self.stamps
            .push_back((self.base + self.buf.len() as u64, ts));
        Ok(())
    }

    /// The instant of the byte at stream offset `at` (not consumed yet).
    fn ts_at(&self, at: u64) -> i64 {
        self.stamps
            .iter()
            .find(|(end, _)| *end > at)
            .or(self.stamps.back())
            .map_or(0, |s| s.1)
    }

    /// Drops the first `n` unparsed bytes.
    fn consume(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.last_ns = self.ts_at(self.base + n as u64 - 1);
        self.buf.drain(..n);
        self.base += n as u64;
        while self
            .stamps
            .front()
            .is_some_and(|(end, _)| *end <= self.base)
        {
            self.stamps.pop_front();
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A message head: its first line and (lower-cased name, value) headers.
struct Head {
    first: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn parse(bytes: &[u8]) -> Result<Head, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "an HTTP head that is not UTF-8")?;
        let mut lines = text.split("\r\n");
        let first = lines.next().unwrap_or_default().to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok(Head { first, headers })
    }

    fn get(&self, name: &str) -> Option<&str> {
        (self.headers.iter())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn content_length(&self) -> Result<Option<u64>, String> {
        self.get("content-length")
            .map(|v| v.parse().map_err(|_| format!("content-length {v:?}")))
            .transpose()
    }

    fn chunked(&self) -> bool {
        self.get("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }
}

/// The start of a request seen, its response not finished.
struct Open {
    request_id: Option<String>,
    first_ns: i64,
    connect_ns: Option<i64>,
}

#[derive(Clone, Copy)]
enum Body {
    Head,
    Sized(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailer,
    UntilClose,
}

/// The response being read.
struct Response {
    status: u16,
    content_ns: Vec<i64>,
    /// SSE bytes of the line not complete yet.
    line: Vec<u8>,
    event_has_content: bool,
}

struct Flow {
    client_port: u16,
    up: ByteStream,
    down: ByteStream,
    up_body: Body,
    down_body: Body,
    open: VecDeque<Open>,
    response: Option<Response>,
    /// Requests seen on the connection.
    requests: u64,
    /// The instant of the client's first SYN (None: the capture joined the connection late).
    syn_ns: Option<i64>,
}

impl Flow {
    fn new(client_port: u16, syn_ns: Option<i64>) -> Flow {
        Flow {
            client_port,
            up: ByteStream::default(),
            down: ByteStream::default(),
            up_body: Body::Head,
            down_body: Body::Head,
            open: VecDeque::new(),
            response: None,
            requests: 0,
            syn_ns,
        }
    }

    /// Parses the requests now complete in the client→server bytes.
    fn read_requests(&mut self) -> Result<(), String> {
        loop {
            match self.up_body {
                Body::Sized(n) => {
                    let take = (n as usize).min(self.up.buf.len());
                    self.up.consume(take);
                    let rest = n - take as u64;
                    if rest > 0 {
                        self.up_body = Body::Sized(rest);
                        return Ok(());
                    }
                    self.up_body = Body::Head;
                }
                _ => {
                    while self.up.buf.starts_with(b"\r\n") {
                        self.up.consume(2);
                    }
                    let Some(end) = find(&self.up.buf, b"\r\n\r\n") else {
                        return Ok(());
                    };
                    let head = Head::parse(&self.up.buf[..end])?;
                    if head.chunked() {
                        return Err("a chunked request body (not read)".into());
                    }
                    self.open.push_back(Open {
                        request_id: head.get("x-request-id").map(str::to_string),
                        first_ns: self.up.ts_at(self.up.base),
                        connect_ns: self.syn_ns.filter(|_| self.requests == 0),
                    });
                    self.requests += 1;
                    self.up.consume(end + 4);
                    self.up_body = Body::Sized(head.content_length()?.unwrap_or(0));
                }
            }
        }
    }

    /// Parses the response bytes now here; finished exchanges go to `out`.
    fn read_responses(&mut self, out: &mut Vec<Exchange>) -> Result<(), String> {
        loop {
            let buf = &self.down.buf;
            match self.down_body {
                Body::Head => {
                    let Some(end) = find(buf, b"\r\n\r\n") else {
                        return Ok(());
                    };
                    let head = Head::parse(&buf[..end])?;
                    let status: u16 = (head.first.split_whitespace().nth(1))
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| format!("status line {:?}", head.first))?;
                    self.down.consume(end + 4);
                    if status < 200 {
                        continue;
                    }
                    self.response = Some(Response {
                        status,
                        content_ns: Vec::new(),
                        line: Vec::new(),
                        event_has_content: false,
                    });
                    self.down_body = if head.chunked() {
                        Body::ChunkSize
                    } else {
                        match head.content_length()? {
                            Some(n) => Body::Sized(n),
                            None if status == 204 || status == 304 => Body::Sized(0),
                            None => Body::UntilClose,
                        }
                    };
                }
                Body::ChunkSize | Body::ChunkEnd | Body::Trailer => {
                    let Some(end) = find(buf, b"\r\n") else {
                        return Ok(());
                    };
                    let line = String::from_utf8_lossy(&buf[..end]).to_string();
                    self.down.consume(end + 2);
                    let state = self.down_body;
                    self.down_body = match state {
                        Body::ChunkSize => {
                            let hex = line.split(';').next().unwrap_or("").trim();
                            match u64::from_str_radix(hex, 16) {
                                Ok(0) => Body::Trailer,
                                Ok(n) => Body::ChunkData(n),
                                Err(_) => return Err(format!("chunk size line {line:?}")),
                            }
                        }
                        Body::ChunkEnd => Body::ChunkSize,
                        _ if line.is_empty() => {
                            self.finish_response(out)?;
                            Body::Head
                        }
                        _ => Body::Trailer,
                    };
                }
                Body::ChunkData(n) | Body::Sized(n) => {
                    let take = (n as usize).min(buf.len());
                    if take == 0 && n > 0 {
                        return Ok(());
                    }
                    let (base, piece) = (self.down.base, buf[..take].to_vec());
                    self.sse(&piece, base)?;
                    self.down.consume(take);
                    let rest = n - take as u64;
                    self.down_body = match (self.down_body, rest) {
                        (Body::ChunkData(_), 0) => Body::ChunkEnd,
                        (Body::ChunkData(_), r) => Body::ChunkData(r),
                        (_, 0) => {
                            self.finish_response(out)?;
                            Body::Head
                        }
                        (_, r) => Body::Sized(r),
                    };
                    if rest > 0 {
                        return Ok(());
                    }
                }
                Body::UntilClose => {
                    let (base, piece) = (self.down.base, buf.clone());
                    self.sse(&piece, base)?;
                    self.down.consume(piece.len());
                    return Ok(());
                }
            }
        }
    }

    /// Feeds body bytes (starting at stream offset `base`) to the SSE line splitter.
    fn sse(&mut self, piece: &[u8], base: u64) -> Result<(), String> {
        let Some(r) = self.response.as_mut() else {
            return Ok(());
        };
        let mut from = 0;
        while let Some(nl) = piece[from..].iter().position(|&b| b == b'\n') {
            let end = from + nl;
            r.line.extend_from_slice(&piece[from..end]);
            if r.line.last() == Some(&b'\r') {
                r.line.pop();
            }
            if r.line.is_empty() {
                // An empty line ends the event: it arrived with this byte.
                if std::mem::take(&mut r.event_has_content) && r.content_ns.len() < MAX_EVENTS {
                    r.content_ns.push(self.down.ts_at(base + end as u64));
                }
            } else if let Some(data) = r.line.strip_prefix(b"data:") {
                r.event_has_content |= has_content(data);
            }
            r.line.clear();
            from = end + 1;
        }
        r.line.extend_from_slice(&piece[from..]);
        if r.line.len() > MAX_UNPARSED {
            return Err(format!("an SSE line longer than {MAX_UNPARSED} bytes"));
        }
        Ok(())
    }

    /// The response ended with the last byte consumed.
    fn finish_response(&mut self, out: &mut Vec<Exchange>) -> Result<(), String> {
        let end_ns = self.down.last_ns;
        let r = self
            .response
            .take()
            .ok_or("a response body without a head")?;
        let open = self
            .open
            .pop_front()
            .ok_or("a response without a request before it")?;
        out.push(Exchange {
            client_port: self.client_port,
            request_id: open.request_id,
            request_first_ns: open.first_ns,
            connect_ns: open.connect_ns,
            status: r.status,
            content_ns: r.content_ns,
            end_ns: Some(end_ns),
        });
        Ok(())
    }

    /// The exchanges the capture did not see finish.
    fn unfinished(mut self, out: &mut Vec<Exchange>) {
        let mut r = self.response.take();
        for open in self.open {
            let r = r.take();
            out.push(Exchange {
                client_port: self.client_port,
                request_id: open.request_id,
                request_first_ns: open.first_ns,
                connect_ns: open.connect_ns,
                status: r.as_ref().map_or(0, |r| r.status),
                content_ns: r.map(|r| r.content_ns).unwrap_or_default(),
                end_ns: None,
            });
        }
    }
}

/// Whether an SSE `data:` payload carries generated text (a non-empty `text` or `content`).
fn has_content(data: &[u8]) -> bool {
    [&b"\"text\":\""[..], b"\"content\":\""]
        .iter()
        .any(|key| find(data, key).is_some_and(|i| data.get(i + key.len()) != Some(&b'"')))
}

/// Every connection with one server, fed segments in capture order.
pub(crate) struct Flows {
    server: Endpoint,
    flows: HashMap<Endpoint, Flow>,
    pub(crate) exchanges: Vec<Exchange>,
    /// Per connection given up on: its client port and why.
    pub(crate) broken: Vec<(u16, String)>,
}

impl Flows {
    pub(crate) fn new(server: Endpoint) -> Flows {
        Flows {
            server,
            flows: HashMap::new(),
            exchanges: Vec::new(),
            broken: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, s: &Segment) {
        let (client, up) = if s.dst == self.server {
            (s.src, true)
        } else if s.src == self.server {
            (s.dst, false)
        } else {
            return;
        };
        if up && s.syn {
            let retransmitted = (self.flows.get(&client))
                .is_some_and(|f| f.requests == 0 && f.up.next_seq == Some(s.seq.wrapping_add(1)));
            if retransmitted {
                return;
            }
            // A new connection on the same ports ends the old one.
            if let Some(old) = self.flows.remove(&client) {
                old.unfinished(&mut self.exchanges);
            }
        }
        if !self.flows.contains_key(&client) {
            if self.flows.len() >= MAX_FLOWS {
                self.broken
                    .push((client.1, format!("more than {MAX_FLOWS} connections")));
                return;
            }
            // A client SYN always lands here (its old flow, if any, was just removed).
            let syn_ns = (up && s.syn).then_some(s.ts_ns);
            self.flows.insert(client, Flow::new(client.1, syn_ns));
        }
        let Some(flow) = self.flows.get_mut(&client) else {
            return;
        };
        let done = if up {
            flow.up.push(s).and_then(|_| flow.read_requests())
        } else {
            (flow.down.push(s)).and_then(|_| flow.read_responses(&mut self.exchanges))
        };
        if let Err(why) = done {
            self.broken.push((client.1, why));
            if let Some(f) = self.flows.remove(&client) {
                f.unfinished(&mut self.exchanges);
            }
        }
    }

    /// All exchanges, those not finished in the capture with `end_ns: None`.
    pub(crate) fn finish(mut self) -> (Vec<Exchange>, Vec<(u16, String)>) {
        for (_, f) in self.flows.drain() {
            f.unfinished(&mut self.exchanges);
        }
        (self.exchanges, self.broken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: Endpoint = ([127, 0, 0, 1], 8000);
    const CLIENT: Endpoint = ([127, 0, 0, 1], 40001);

    struct Conn {
        up_seq: u32,
        down_seq: u32,
    }

    fn seg(up: bool, seq: u32, ts: i64, payload: &[u8], syn: bool) -> Segment {
        let (src, dst) = if up {
            (CLIENT, SERVER)
        } else {
            (SERVER, CLIENT)
        };
        Segment {
            ts_ns: ts,
            src,
            dst,
            seq,
            syn,
            fin: false,
            rst: false,
            payload: payload.to_vec(),
            truncated: false,
        }
    }

    impl Conn {
        fn open(flows: &mut Flows) -> Conn {
            flows.push(&seg(true, 1000, 1, b"", true));
            flows.push(&seg(false, 0xffff_fff0, 2, b"", true));
            Conn {
                up_seq: 1001,
                down_seq: 0xffff_fff1,
            }
        }
        fn up(&mut self, ts: i64, p: &[u8]) -> Segment {
            let s = seg(true, self.up_seq, ts, p, false);
            self.up_seq = self.up_seq.wrapping_add(p.len() as u32);
            s
        }
        fn down(&mut self, ts: i64, p: &[u8]) -> Segment {
            let s = seg(false, self.down_seq, ts, p, false);
            self.down_seq = self.down_seq.wrapping_add(p.len() as u32);
            s
        }
    }

    fn request(id: &str) -> Vec<u8> {
        let body = br#"{"prompt":"x"}"#;
        let mut r = format!(
            "POST /v1/completions HTTP/1.1\r\nhost: s\r\nX-Request-Id: {id}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    }

    fn chunk(event: &str) -> Vec<u8> {
        format!("{:x}\r\n{event}\r\n", event.len()).into_bytes()
    }

    const HEAD: &[u8] =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    const TOKEN: &str = "data: {\"choices\":[{\"text\":\"tok\"}]}\n\n";

    #[test]
    fn requests_and_events_get_the_instants_of_their_bytes_across_two_exchanges() {
        let mut flows = Flows::new(SERVER);
        let mut c = Conn::open(&mut flows);
        // Request 1 split over two segments; the head of the response with its first event.
        let r1 = request("s0-1");
        flows.push(&c.up(100, &r1[..10]));
        flows.push(&c.up(110, &r1[10..]));
        let mut first = HEAD.to_vec();
        first.extend(chunk(TOKEN));
        flows.push(&c.down(200, &first));
        // An event split mid-line, a usage event without text, [DONE], the last chunk.
        let ev = chunk(TOKEN);
        flows.push(&c.down(300, &ev[..7]));
        flows.push(&c.down(310, &ev[7..]));
        flows.push(&c.down(
            400,
            &chunk("data: {\"choices\":[{\"text\":\"\"}],\"usage\":{}}\n\n"),
        ));
        let mut tail = chunk("data: [DONE]\n\n");
        tail.extend_from_slice(b"0\r\n\r\n");
        flows.push(&c.down(500, &tail));
        // Request 2 on the same connection; its response not finished.
        flows.push(&c.up(600, &request("s0-2")));
        let mut second = HEAD.to_vec();
        second.extend(chunk(TOKEN));
        flows.push(&c.down(700, &second));
        let (ex, broken) = flows.finish();
        assert!(broken.is_empty(), "{broken:?}");
        assert_eq!(
            ex,
            vec![
                Exchange {
                    client_port: CLIENT.1,
                    request_id: Some("s0-1".into()),
                    request_first_ns: 100,
                    connect_ns: Some(1),
                    status: 200,
                    content_ns: vec![200, 310],
                    end_ns: Some(500),
                },
                Exchange {
                    client_port: CLIENT.1,
                    request_id: Some("s0-2".into()),
                    request_first_ns: 600,
                    connect_ns: None,
                    status: 200,
                    content_ns: vec![700],
                    end_ns: None,
                },
            ]
        );
    }

    #[test]
    fn a_retransmitted_syn_keeps_the_first_syn_instant_and_a_new_connection_its_own() {
        let mut flows = Flows::new(SERVER);
        // The first SYN at 1 was dropped (a full accept queue); the client retried at 50.
        let mut c = Conn::open(&mut flows);
        flows.push(&seg(true, 1000, 50, b"", true));
        flows.push(&c.up(60, &request("s0-1")));
        let mut body = HEAD.to_vec();
        body.extend(chunk(TOKEN));
        body.extend_from_slice(b"0\r\n\r\n");
        flows.push(&c.down(70, &body));
        // The same ports reused later by another connection (another initial sequence number).
        flows.push(&seg(true, 5000, 90, b"", true));
        flows.push(&seg(false, 9000, 91, b"", true));
        let mut d = Conn {
            up_seq: 5001,
            down_seq: 9001,
        };
        flows.push(&d.up(95, &request("s0-2")));
        let (ex, broken) = flows.finish();
        assert!(broken.is_empty(), "{broken:?}");
        let connects: Vec<_> = ex
            .iter()
            .map(|x| (x.request_id.clone(), x.connect_ns))
            .collect();
        assert_eq!(
            connects,
            vec![
                (Some("s0-1".into()), Some(1)),
                (Some("s0-2".into()), Some(90))
            ]
        );
    }

    #[test]
    fn retransmitted_and_reordered_segments_keep_the_first_instant_of_each_byte() {
        let mut flows = Flows::new(SERVER);
        let mut c = Conn::open(&mut flows);
        let r = request("a");
        let (s1, s2) = (c.up(100, &r[..20]), c.up(150, &r[20..]));
        // The second half arrives first, then the first; then the first again (retransmitted).
        flows.push(&s2);
        flows.push(&s1);
        flows.push(&Segment { ts_ns: 900, ..s1 });
        let mut body = HEAD.to_vec();
        body.extend(chunk(TOKEN));
        body.extend_from_slice(b"0\r\n\r\n");
        let d = c.down(300, &body);
        flows.push(&d);
        flows.push(&Segment { ts_ns: 950, ..d });
        let (ex, broken) = flows.finish();
        assert!(broken.is_empty(), "{broken:?}");
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].request_first_ns, 100);
        assert_eq!(ex[0].content_ns, vec![300]);
        assert_eq!(ex[0].end_ns, Some(300));
    }

    #[test]
    fn a_sized_response_and_garbage_are_told_apart() {
        let mut flows = Flows::new(SERVER);
        let mut c = Conn::open(&mut flows);
        flows.push(&c.up(10, &request("e")));
        flows.push(&c.down(
            20,
            b"HTTP/1.1 429 Too Many\r\ncontent-length: 4\r\n\r\nbusy",
        ));
        flows.push(&c.up(30, &request("f")));
        flows.push(&c.down(40, b"HTTP/1.1 2x0 OK\r\n\r\n"));
        let (ex, broken) = flows.finish();
        assert_eq!(ex[0].status, 429);
        assert_eq!(ex[0].end_ns, Some(20));
        assert!(ex[0].content_ns.is_empty());
        assert_eq!(broken.len(), 1);
        assert!(broken[0].1.contains("status line"), "{broken:?}");
        // The request whose response could not be read is still reported, unfinished.
        assert_eq!(ex[1].request_id.as_deref(), Some("f"));
        assert_eq!(ex[1].end_ns, None);
    }

    #[test]
    fn unbounded_heads_are_refused() {
        let mut flows = Flows::new(SERVER);
        let mut c = Conn::open(&mut flows);
        let junk = vec![b'a'; 64 * 1024];
        for i in 0..20 {
            flows.push(&c.up(i, &junk));
        }
        let (_, broken) = flows.finish();
        assert_eq!(broken.len(), 1);
        assert!(broken[0].1.contains("bytes not parseable"), "{broken:?}");
    }
}
