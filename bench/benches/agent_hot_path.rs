//! Criterion micro-benchmarks of the agent's per-chunk and per-request hot path, each on the bytes
//! and records it meets in a run against the sim:
//!
//! - `sse`: the incremental SSE parser (`SseParser::feed`) over the body of one 128-token streamed
//!   completion as the sim renders it (`fleetbench_sim::sse::ChunkTemplates`: 128 token events, the
//!   usage event, `[DONE]`), fed one event per read (tokens paced apart: one read per chunk) and in
//!   1,448-byte reads (a TCP segment's payload on loopback with timestamps: a burst).
//! - `chunk`: the borrowed chunk parse (`Chunk::parse` + `carries_text`) of one completion token
//!   chunk, one chat token chunk, the chat role-only chunk and the final usage chunk, and the
//!   one-pass read from the chunk's start (`Facts::of`, "one-pass facts"), and the read the
//!   stream loop uses, resuming after the start a stream's chunks share (`Resume::facts`,
//!   "one-pass facts, resumed": the same chunk again, as the next of its stream).
//! - `decode`: both together, as the client's stream loop does for every read: feed, read each
//!   event's facts with the stream's `Resume`, count text chunks, push the gap since the previous
//!   one.
//! - `recorder`: `Recorder::record` of one finished 128-token request (TTFT, E2E, TPOT, NTPOT, send
//!   lag, token counts and 127 ITLs into the interval's HDR histograms).
//!
//! Unit: every benchmark id ending in `per chunk` reports the time of ONE chunk (whole streams are
//! timed and the time is pro-rated per chunk), so criterion's `time` is ns per chunk. The others
//! say their unit (per event, per request).

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fleetbench_agent::client::{Chunk, Facts, Resume, SseParser};
use fleetbench_agent::record::Recorder;
use fleetbench_agent::request::{RequestRecord, TokenSource};
use fleetbench_model::spec::Window;
use fleetbench_sim::openai::{Endpoint, Usage};
use fleetbench_sim::sse::{ChunkTemplates, DONE};
use std::hint::black_box;
use std::time::{Duration, Instant};

const TOKENS: u32 = 128;
/// Payload of one TCP segment on loopback (MTU 1500 − IP − TCP with timestamps).
const SEGMENT: usize = 1448;

/// The SSE events of one streamed request, as the sim writes them.
fn events(endpoint: Endpoint) -> Vec<Vec<u8>> {
    let tpl = ChunkTemplates::new(endpoint, "0-12345", 1_760_000_000, "sim-model");
    let one = |f: &dyn Fn(&mut BytesMut)| {
        let mut b = BytesMut::new();
        f(&mut b);
        b.to_vec()
    };
    let mut out = Vec::new();
    if matches!(endpoint, Endpoint::Chat) {
        out.push(one(&|b| tpl.put_role(b)));
    }
    for _ in 0..TOKENS - 1 {
        out.push(one(&|b| tpl.put_tokens(b, 1)));
    }
    out.push(one(&|b| tpl.put_last_token(b, "length")));
    out.push(one(&|b| {
        tpl.put_usage(
            b,
            Usage {
                prompt_tokens: 16,
                completion_tokens: TOKENS,
                cached_tokens: None,
            },
        )
    }));
    out.push(DONE.to_vec());
    out
}

fn segments(events: &[Vec<u8>]) -> Vec<Vec<u8>> {
    events
        .concat()
        .chunks(SEGMENT)
        .map(<[u8]>::to_vec)
        .collect()
}

/// The `data` of an event (what the parser hands to the chunk parse).
fn data(event: &[u8]) -> &[u8] {
    event
        .strip_prefix(b"data: ")
        .and_then(|e| e.strip_suffix(b"\n\n"))
        .expect("sim events are `data: ...\\n\\n`")
}

/// Times whole streams of `chunks` chunks and reports the time of `iters` chunks.
fn per_chunk(iters: u64, chunks: u64, mut stream: impl FnMut()) -> Duration {
    let streams = iters.div_ceil(chunks).max(1);
    let t = Instant::now();
    for _ in 0..streams {
        stream();
    }
    t.elapsed()
        .mul_f64(iters as f64 / (streams * chunks) as f64)
}

fn sse(c: &mut Criterion) {
    let ev = events(Endpoint::Completions);
    let chunks = ev.len() as u64;
    let mut g = c.benchmark_group("sse");
    g.throughput(Throughput::Elements(1));
    for (name, reads) in [
        ("one event per read, per chunk", ev.clone()),
        ("1448-byte reads, per chunk", segments(&ev)),
    ] {
        g.bench_function(name, |b| {
            let mut p = SseParser::new();
            b.iter_custom(|iters| {
                per_chunk(iters, chunks, || {
                    for r in &reads {
                        let _ = p.feed(black_box(r), |e| {
                            black_box(e);
                        });
                    }
                })
            })
        });
    }
    g.finish();
}

fn chunk(c: &mut Criterion) {
    let completion = events(Endpoint::Completions);
    let chat = events(Endpoint::Chat);
    let n = chat.len();
    let cases: [(&str, &[u8]); 4] = [
        ("completion token, per chunk", data(&completion[0])),
        ("chat token, per chunk", data(&chat[1])),
        ("chat role-only, per event", data(&chat[0])),
        ("usage, per event", data(&chat[n - 2])),
    ];
    let mut g = c.benchmark_group("chunk");
    g.throughput(Throughput::Elements(1));
    for (name, bytes) in cases {
        let c = Chunk::parse(bytes).expect("sim chunk parses");
        assert_eq!(c.carries_text(), name.contains("token"), "{name}");
        g.bench_function(name, |b| {
            b.iter(|| {
                let c = Chunk::parse(black_box(bytes)).expect("parses");
                black_box((c.carries_text(), c.usage, c.is_error()))
            })
        });
        let facts = Facts::of(bytes).expect("sim chunk scans");
        assert_eq!(
            (facts.text, facts.usage, facts.error),
            (c.carries_text(), c.usage, c.is_error())
        );
        g.bench_function(format!("{name}, one-pass facts"), |b| {
            b.iter(|| black_box(Facts::of(black_box(bytes)).expect("scans")))
        });
        let mut resume = Resume::default();
        assert_eq!(resume.facts(bytes).ok(), Some(facts), "{name}");
        g.bench_function(format!("{name}, one-pass facts, resumed"), |b| {
            b.iter(|| black_box(resume.facts(black_box(bytes)).expect("scans")))
        });
    }
    g.finish();
}

/// What the client's stream loop does per read: feed, parse every event, count text chunks and
/// keep the gaps (the `StreamState` of `agent/src/client/mod.rs`, without the clock reads).
fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    for (name, reads) in [
        (
            "completion, one event per read, per chunk",
            events(Endpoint::Completions),
        ),
        (
            "completion, 1448-byte reads, per chunk",
            segments(&events(Endpoint::Completions)),
        ),
        (
            "chat, one event per read, per chunk",
            events(Endpoint::Chat),
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                per_chunk(iters, u64::from(TOKENS), || {
                    let mut p = SseParser::new();
                    let mut resume = Resume::default();
                    let (mut text, mut gaps, mut done) = (0u64, Vec::new(), false);
                    for r in &reads {
                        let _ = p.feed(black_box(r), |e| {
                            if e == b"[DONE]" {
                                done = true;
                                return;
                            }
                            if let Ok(c) = resume.facts(e) {
                                if c.text {
                                    if text > 0 {
                                        gaps.push(text);
                                    }
                                    text += 1;
                                }
                                black_box(c.usage);
                            }
                        });
                    }
                    assert!(done && text == u64::from(TOKENS));
                    black_box(gaps);
                })
            })
        });
    }
    g.finish();
}

fn recorder(c: &mut Criterion) {
    let start = Instant::now();
    let r = Recorder::new(
        start,
        Window {
            start_s: 0.0,
            end_s: None,
        },
    );
    let rec = RequestRecord {
        id: "0-12345".into(),
        t_intended: start,
        t_sent: start + Duration::from_micros(40),
        t_first: Some(start + Duration::from_millis(50)),
        t_end: start + Duration::from_millis(50 + 5 * 127),
        itl_us: (0..127u64).map(|i| 4_800 + (i * 37) % 400).collect(),
        in_tokens: 16,
        out_tokens: u64::from(TOKENS),
        token_source: TokenSource::Usage,
        cached_tokens: None,
        outcome: Ok(()),
        http_status: 0,
        error_body: None,
        retries: 0,
        body_bytes: 200,
        media: None,
        reply: None,
    };
    let mut g = c.benchmark_group("recorder");
    g.throughput(Throughput::Elements(1));
    g.bench_function("record a 128-token request, per chunk", |b| {
        b.iter_custom(|iters| per_chunk(iters, u64::from(TOKENS), || r.record(black_box(&rec))))
    });
    g.bench_function("record a 128-token request, per request", |b| {
        b.iter(|| r.record(black_box(&rec)))
    });
    g.finish();
    assert!(r.take().measurements.counters.ok > 0);
}

criterion_group!(benches, sse, chunk, decode, recorder);
criterion_main!(benches);
