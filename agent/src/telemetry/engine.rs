//! The engine's Prometheus `/metrics`, scraped over HTTP or HTTPS (at most 16 MiB a page) and
//! read by [`exposition`]
//! (names with `:` included), mapped to fleetbench's names through one table per engine family (vLLM, SGLang,
//! llama.cpp, TGI, TensorRT-LLM, Triton's TensorRT-LLM backend, Dynamo's frontend), detected
//! from the names present. A new engine is a new table.

use super::exposition::{self, Sample};
use bytes::Bytes;
use fleetbench_proto::v1 as wire;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// Where each fleetbench quantity comes from, per engine: the first name present wins. A name
/// may select series by one label, `name{label=value}` (Triton's TensorRT-LLM backend puts
/// several quantities in one family).
struct MetricNames {
    /// What the report calls this engine family.
    family: &'static str,
    running: &'static [&'static str],
    waiting: &'static [&'static str],
    kv_cache_usage: &'static [&'static str],
    prefix_queries: &'static [&'static str],
    prefix_hits: &'static [&'static str],
    /// A gauge that is itself the hit rate (SGLang), used when queries/hits are absent.
    prefix_hit_rate: &'static [&'static str],
    preemptions: &'static [&'static str],
}

const VLLM: MetricNames = MetricNames {
    family: "vllm",
    running: &["vllm:num_requests_running"],
    waiting: &["vllm:num_requests_waiting"],
    kv_cache_usage: &["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"],
    prefix_queries: &[
        "vllm:prefix_cache_queries_total",
        "vllm:prefix_cache_queries",
        "vllm:gpu_prefix_cache_queries_total",
    ],
    prefix_hits: &[
        "vllm:prefix_cache_hits_total",
        "vllm:prefix_cache_hits",
        "vllm:gpu_prefix_cache_hits_total",
    ],
    prefix_hit_rate: &[],
    preemptions: &["vllm:num_preemptions_total", "vllm:num_preemptions"],
};

const SGLANG: MetricNames = MetricNames {
    family: "sglang",
    running: &["sglang:num_running_reqs"],
    waiting: &["sglang:num_queue_reqs"],
    kv_cache_usage: &["sglang:token_usage"],
    prefix_queries: &[],
    prefix_hits: &[],
    prefix_hit_rate: &["sglang:cache_hit_rate"],
    preemptions: &["sglang:num_retracted_reqs"],
};

/// llama.cpp's `llama-server --metrics`: slots processing and deferred requests; prompt tokens
/// and those taken from the cache (a token-level hit rate, like vLLM's).
const LLAMACPP: MetricNames = MetricNames {
    family: "llamacpp",
    running: &["llamacpp:requests_processing"],
    waiting: &["llamacpp:requests_deferred"],
    kv_cache_usage: &["llamacpp:kv_cache_usage_ratio"],
    prefix_queries: &["llamacpp:prompt_tokens_total"],
    prefix_hits: &["llamacpp:prompt_tokens_cached_total"],
    prefix_hit_rate: &[],
    preemptions: &[],
};

/// Hugging Face text-generation-inference.
const TGI: MetricNames = MetricNames {
    family: "tgi",
    running: &["tgi_batch_current_size"],
    waiting: &["tgi_queue_size"],
    kv_cache_usage: &[],
    prefix_queries: &[],
    prefix_hits: &[],
    prefix_hit_rate: &[],
    preemptions: &[],
};

/// TensorRT-LLM's own server (`trtllm-serve`), and its names as Dynamo workers pass them on.
const TRTLLM: MetricNames = MetricNames {
    family: "trtllm",
    running: &["trtllm_num_requests_running"],
    waiting: &["trtllm_num_requests_waiting"],
    kv_cache_usage: &["trtllm_kv_cache_utilization"],
    prefix_queries: &[],
    prefix_hits: &[],
    prefix_hit_rate: &["trtllm_kv_cache_hit_rate"],
    preemptions: &[],
};

/// Triton Inference Server with the TensorRT-LLM backend.
const TRITON_TRTLLM: MetricNames = MetricNames {
    family: "triton-trtllm",
    running: &["nv_trt_llm_request_metrics{request_type=scheduled}"],
    waiting: &["nv_trt_llm_request_metrics{request_type=waiting}"],
    kv_cache_usage: &["nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=fraction}"],
    prefix_queries: &[],
    prefix_hits: &[],
    prefix_hit_rate: &[],
    preemptions: &[],
};

/// NVIDIA Dynamo's HTTP frontend (`python -m dynamo.frontend`): requests in flight and queued.
const DYNAMO_FRONTEND: MetricNames = MetricNames {
    family: "dynamo-frontend",
    running: &["dynamo_frontend_inflight_requests"],
    waiting: &["dynamo_frontend_queued_requests"],
    kv_cache_usage: &[],
    prefix_queries: &[],
    prefix_hits: &[],
    prefix_hit_rate: &[],
    preemptions: &[],
};

/// In detection order: engines before the Dynamo frontend (a Dynamo worker's endpoint carries
/// its engine's names as well).
const ENGINES: [&MetricNames; 7] = [
    &VLLM,
    &SGLANG,
    &LLAMACPP,
    &TGI,
    &TRTLLM,
    &TRITON_TRTLLM,
    &DYNAMO_FRONTEND,
];

/// How many of the names an unknown endpoint exports are named in its warning.
const SEEN_NAMES: usize = 12;

/// Metric names of endpoints already warned about (one warning per endpoint).
static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Maps parsed Prometheus text to an engine sample (NaN for what the engine does not export).
/// Series of one name are summed over their labels (several models or ranks on one server).
/// The engine family is detected from the names present; an endpoint with none of the known
/// names gets `family` empty, the names it exports in `unknown_names`, and one warning.
pub(crate) fn map_metrics(url: &str, text: &str) -> wire::EngineSample {
    let scrape = exposition::parse(text);
    let value = |names: &[&str]| value_of(&scrape, names);
    let histogram = |name: &str| histogram_of(&scrape, name);
    let blocks = cache_blocks(&scrape);
    let detected = ENGINES
        .iter()
        .find(|n| !value(n.running).is_nan() || !value(n.waiting).is_nan())
        .copied();
    let unknown_names = match detected {
        Some(_) => Vec::new(),
        None => unknown_names(url, &scrape),
    };
    let names = detected.unwrap_or(&VLLM);
    let (queries, hits) = {
        let (q, h) = (value(names.prefix_queries), value(names.prefix_hits));
        if q.is_nan() && !names.prefix_hit_rate.is_empty() {
            // A hit-rate gauge: report it as hits per 1 query so the ratio survives.
            let rate = value(names.prefix_hit_rate);
            (if rate.is_nan() { f64::NAN } else { 1.0 }, rate)
        } else {
            (q, h)
        }
    };
    let pd = pd_figures(detected.map(|n| n.family), &value, &histogram);
    wire::EngineSample {
        prompt_tokens: pd.prompt_tokens,
        generation_tokens: pd.generation_tokens,
        requests_finished: pd.requests_finished,
        prompt_tokens_computed: pd.prompt_tokens_computed,
        kv_received_tokens: pd.kv_received_tokens,
        prefill_time_s_sum: pd.prefill_time_s_sum,
        prefill_time_count: pd.prefill_time_count,
        decode_time_s_sum: pd.decode_time_s_sum,
        decode_time_count: pd.decode_time_count,
        queue_time_s_sum: pd.queue_time_s_sum,
        queue_time_count: pd.queue_time_count,
        kv_transfer_time_s_sum: pd.kv_transfer_time_s_sum,
        kv_transfer_count: pd.kv_transfer_count,
        url: url.to_string(),
        running: value(names.running),
        waiting: value(names.waiting),
        kv_cache_usage: value(names.kv_cache_usage),
        prefix_cache_queries: queries,
        prefix_cache_hits: hits,
        preemptions: value(names.preemptions),
        kv_cache_blocks: blocks,
        family: detected.map(|n| n.family.to_string()).unwrap_or_default(),
        unknown_names,
    }
}

/// The first of `names` (`NAME` or `NAME{label=value}`) the scrape has, summed over its series;
/// NaN when none is there.
fn value_of(scrape: &[Sample<'_>], names: &[&str]) -> f64 {
    for spec in names {
        let (name, label) = match spec.split_once('{') {
            Some((n, sel)) => (n, sel.trim_end_matches('}').split_once('=')),
            None => (*spec, None),
        };
        let mut found = false;
        let mut sum = 0.0;
        let samples = scrape.iter().filter(|s| s.name == name).filter(|s| {
            label.is_none_or(|(k, v)| s.label(k).is_some_and(|x| x.trim_matches('"') == v))
        });
        for s in samples.filter(|s| !s.value.is_nan()) {
            found = true;
            sum += s.value;
        }
        if found {
            return sum;
        }
    }
    f64::NAN
}

/// A histogram's sum and count (its `NAME_sum` and `NAME_count` series), summed over its
/// series (NaN when absent).
fn histogram_of(scrape: &[Sample<'_>], name: &str) -> (f64, f64) {
    (
        value_of(scrape, &[format!("{name}_sum").as_str()]),
        value_of(scrape, &[format!("{name}_count").as_str()]),
    )
}

/// vLLM's KV cache size in blocks (`vllm:cache_config_info`'s `num_gpu_blocks` label).
fn cache_blocks(scrape: &[Sample<'_>]) -> f64 {
    scrape
        .iter()
        .filter(|s| s.name == "vllm:cache_config_info")
        .find_map(|s| s.label("num_gpu_blocks"))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}

/// The names an endpoint of no known engine exports (the first [`SEEN_NAMES`]), with one
/// warning per endpoint.
fn unknown_names(url: &str, scrape: &[Sample<'_>]) -> Vec<String> {
    let mut unknown_names = Vec::new();
    if !scrape.is_empty() {
        let mut names: Vec<&str> = scrape.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        let total = names.len();
        unknown_names = names
            .into_iter()
            .take(SEEN_NAMES)
            .map(String::from)
            .collect();
        if total > SEEN_NAMES {
            unknown_names.push(format!("... ({total} names)"));
        }
    }
    if first_time(&WARNED, url) {
        tracing::warn!(
            "{url} exports none of the engine metrics fleetbench knows (vLLM, SGLang, llama.cpp, TGI, TensorRT-LLM, Triton, Dynamo); it exports: {}",
            if unknown_names.is_empty() {
                "nothing parseable".to_string()
            } else {
                unknown_names.join(", ")
            }
        );
    }
    unknown_names
}

/// The P/D figures of one scrape (NaN for what the engine does not export).
struct PdFigures {
    prompt_tokens: f64,
    generation_tokens: f64,
    requests_finished: f64,
    prompt_tokens_computed: f64,
    kv_received_tokens: f64,
    prefill_time_s_sum: f64,
    prefill_time_count: f64,
    decode_time_s_sum: f64,
    decode_time_count: f64,
    queue_time_s_sum: f64,
    queue_time_count: f64,
    kv_transfer_time_s_sum: f64,
    kv_transfer_count: f64,
}

/// vLLM's names for the P/D figures (the NIXL connector's transfer time); SGLang's token
/// counters. Other engines export none of them.
fn pd_figures(
    family: Option<&str>,
    value: &dyn Fn(&[&str]) -> f64,
    histogram: &dyn Fn(&str) -> (f64, f64),
) -> PdFigures {
    let vllm = family == Some("vllm");
    let nan = (f64::NAN, f64::NAN);
    let hist = |name: &str| if vllm { histogram(name) } else { nan };
    let (prefill_sum, prefill_n) = hist("vllm:request_prefill_time_seconds");
    let (decode_sum, decode_n) = hist("vllm:request_decode_time_seconds");
    let (queue_sum, queue_n) = hist("vllm:request_queue_time_seconds");
    let (xfer_sum, xfer_n) = hist("vllm:nixl_xfer_time_seconds");
    let (computed, _) = hist("vllm:request_prefill_kv_computed_tokens");
    let pick = |v: &[&str], s: &[&str]| match family {
        Some("vllm") => value(v),
        Some("sglang") => value(s),
        _ => f64::NAN,
    };
    PdFigures {
        prompt_tokens: pick(
            &["vllm:prompt_tokens_total"],
            &["sglang:prompt_tokens_total"],
        ),
        generation_tokens: pick(
            &["vllm:generation_tokens_total"],
            &["sglang:generation_tokens_total"],
        ),
        requests_finished: pick(
            &["vllm:request_success_total"],
            &["sglang:num_requests_total"],
        ),
        prompt_tokens_computed: computed,
        kv_received_tokens: pick(&["vllm:external_prefix_cache_hits_total"], &[]),
        prefill_time_s_sum: prefill_sum,
        prefill_time_count: prefill_n,
        decode_time_s_sum: decode_sum,
        decode_time_count: decode_n,
        queue_time_s_sum: queue_sum,
        queue_time_count: queue_n,
        kv_transfer_time_s_sum: xfer_sum,
        kv_transfer_count: xfer_n,
    }
}

/// Most bytes of one `/metrics` page read: a page is input from the network, so an endless or
/// huge one stops here (a vLLM page is some 100 KB per model; a Prometheus `/federate` page
/// of the engines' series of a large fleet, a few MB).
pub(crate) const MAX_METRICS_BYTES: usize = 16 << 20;

/// What [`warn_once`] warned about already: a page over [`MAX_METRICS_BYTES`], a query API's
/// refusal.
static WARNED_FETCH: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// GET `url` (http://HOST:PORT/PATH) and return the body, within `timeout` and at most
/// [`MAX_METRICS_BYTES`] (a longer page is dropped, with one warning per endpoint).
pub(crate) async fn fetch(url: &str, timeout: Duration) -> Option<String> {
    fetch_with(url, None, timeout).await
}

/// [`fetch`] with an `Authorization` header, over `http://` or `https://` (Mozilla's roots,
/// the certificate checked against the URL's host).
pub(crate) async fn fetch_with(
    url: &str,
    authorization: Option<&str>,
    timeout: Duration,
) -> Option<String> {
    let (tls, rest) = match url.strip_prefix("https://") {
        Some(rest) => (true, rest),
        None => (false, url.strip_prefix("http://")?),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/metrics"),
    };
    let work = async {
        let addr = match (tls, authority.contains(':')) {
            (true, false) => format!("{authority}:443"),
            _ => authority.to_string(),
        };
        let stream = tokio::net::TcpStream::connect(&addr).await.ok()?;
        if !tls {
            return get(stream, url, authority, path, authorization).await;
        }
        let host = authority.split(':').next().unwrap_or(authority).to_string();
        let name = rustls::pki_types::ServerName::try_from(host).ok()?;
        let connector = crate::client::EndpointTrust::default()
            .connector(fleetbench_model::settings::HttpVersion::Http1, None)
            .ok()?;
        let stream = connector.connect(name, stream).await.ok()?;
        get(stream, url, authority, path, authorization).await
    };
    tokio::time::timeout(timeout, work).await.ok().flatten()
}

/// One HTTP/1.1 GET over `stream`; the body (at most [`MAX_METRICS_BYTES`]) of a 2xx answer.
async fn get<S>(
    stream: S,
    url: &str,
    authority: &str,
    path: &str,
    authorization: Option<&str>,
) -> Option<String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = http::Request::get(path).header(http::header::HOST, authority);
    if let Some(a) = authorization {
        req = req.header(http::header::AUTHORIZATION, a);
    }
    let resp = sender
        .send_request(req.body(Empty::<Bytes>::new()).ok()?)
        .await
        .ok()?;
    if !resp.status().is_success() {
        if authorization.is_some() {
            warn_once(
                url,
                &format!(
                    "{}: answered {}",
                    url.split('?').next().unwrap_or(url),
                    resp.status()
                ),
            );
        }
        return None;
    }
    let limited = http_body_util::Limited::new(resp.into_body(), MAX_METRICS_BYTES);
    let body = match limited.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            if e.is::<http_body_util::LengthLimitError>() {
                warn_once(
                    url,
                    &format!(
                        "{url}: its metrics page is over {} MiB; it is not read (its samples are missing)",
                        MAX_METRICS_BYTES >> 20
                    ),
                );
            }
            return None;
        }
    };
    String::from_utf8(body.to_vec()).ok()
}

/// Whether `key` is new to `seen` (which keeps at most 64 keys: past that, nothing is new).
fn first_time(seen: &std::sync::Mutex<Vec<String>>, key: &str) -> bool {
    seen.lock()
        .map(|mut w| {
            let new = w.len() < 64 && !w.iter().any(|u| u == key);
            if new {
                w.push(key.to_string());
            }
            new
        })
        .unwrap_or(false)
}

/// Warns `message` once per `key` (an endpoint and what went wrong with it).
pub(crate) fn warn_once(key: &str, message: &str) {
    if first_time(&WARNED_FETCH, key) {
        tracing::warn!("{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server whose `/metrics` page is endless (chunked, 64 KiB chunks, until the client goes).
    fn endless_metrics() -> String {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut w = s;
                let chunk = "# HELP x y\n".repeat(65536 / 11);
                let _ = write!(w, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
                while write!(w, "{:x}\r\n{chunk}\r\n", chunk.len()).is_ok() {}
            }
        });
        addr
    }

    #[tokio::test]
    async fn an_endless_metrics_page_is_dropped_at_the_cap() {
        let addr = endless_metrics();
        let started = std::time::Instant::now();
        let got = fetch(&format!("http://{addr}/metrics"), Duration::from_secs(30)).await;
        assert!(got.is_none());
        // It stopped at the cap, long before the timeout.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
        assert!(WARNED_FETCH
            .lock()
            .unwrap()
            .iter()
            .any(|u| u.contains(&addr)));
    }

    #[test]
    fn vllm_and_sglang_names_map_to_the_same_quantities() {
        let vllm = "# TYPE vllm:num_requests_running gauge\n\
            vllm:num_requests_running{model_name=\"m\"} 7\n\
            vllm:num_requests_waiting{model_name=\"m\"} 3\n\
            vllm:kv_cache_usage_perc{model_name=\"m\"} 0.25\n\
            vllm:prefix_cache_queries_total{model_name=\"m\"} 100\n\
            vllm:prefix_cache_hits_total{model_name=\"m\"} 40\n\
            vllm:num_preemptions_total{model_name=\"m\"} 2\n";
        let s = map_metrics("u", vllm);
        assert_eq!((s.running, s.waiting, s.kv_cache_usage), (7.0, 3.0, 0.25));
        assert_eq!(
            (s.prefix_cache_queries, s.prefix_cache_hits, s.preemptions),
            (100.0, 40.0, 2.0)
        );
        let sglang =
            "sglang:num_running_reqs{tp_rank=\"0\"} 5\nsglang:num_queue_reqs{tp_rank=\"0\"} 1\n\
            sglang:token_usage{tp_rank=\"0\"} 0.5\nsglang:cache_hit_rate{tp_rank=\"0\"} 0.3\n";
        let s = map_metrics("u", sglang);
        assert_eq!((s.running, s.waiting, s.kv_cache_usage), (5.0, 1.0, 0.5));
        assert_eq!(s.prefix_cache_hits / s.prefix_cache_queries, 0.3);
        let s = map_metrics("u", "garbage {{{");
        assert!(s.running.is_nan());
    }

    #[test]
    fn llamacpp_tgi_triton_and_dynamo_names_are_detected() {
        let llama = "# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.\n\
            # TYPE llamacpp:prompt_tokens_total counter\nllamacpp:prompt_tokens_total 120\n\
            # TYPE llamacpp:prompt_tokens_cached_total counter\nllamacpp:prompt_tokens_cached_total 30\n\
            # TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing 2\n\
            # TYPE llamacpp:requests_deferred gauge\nllamacpp:requests_deferred 1\n";
        let s = map_metrics("u", llama);
        assert_eq!(s.family, "llamacpp");
        assert_eq!((s.running, s.waiting), (2.0, 1.0));
        assert_eq!((s.prefix_cache_queries, s.prefix_cache_hits), (120.0, 30.0));
        assert!(s.unknown_names.is_empty());

        let tgi = "# TYPE tgi_queue_size gauge\ntgi_queue_size 4\n\
            # TYPE tgi_batch_current_size gauge\ntgi_batch_current_size 9\n";
        let s = map_metrics("u", tgi);
        assert_eq!((s.family.as_str(), s.running, s.waiting), ("tgi", 9.0, 4.0));

        let triton = "# TYPE nv_trt_llm_request_metrics gauge\n\
            nv_trt_llm_request_metrics{model=\"tensorrt_llm\",request_type=\"scheduled\",version=\"1\"} 5\n\
            nv_trt_llm_request_metrics{model=\"tensorrt_llm\",request_type=\"waiting\",version=\"1\"} 2\n\
            nv_trt_llm_request_metrics{model=\"tensorrt_llm\",request_type=\"max\",version=\"1\"} 64\n\
            # TYPE nv_trt_llm_kv_cache_block_metrics gauge\n\
            nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"fraction\",model=\"tensorrt_llm\",version=\"1\"} 0.25\n";
        let s = map_metrics("u", triton);
        assert_eq!(s.family, "triton-trtllm");
        assert_eq!((s.running, s.waiting, s.kv_cache_usage), (5.0, 2.0, 0.25));

        let dynamo = "# TYPE dynamo_frontend_inflight_requests gauge\n\
            dynamo_frontend_inflight_requests{model=\"m\"} 7\n\
            # TYPE dynamo_frontend_queued_requests gauge\ndynamo_frontend_queued_requests{model=\"m\"} 3\n";
        let s = map_metrics("u", dynamo);
        assert_eq!(
            (s.family.as_str(), s.running, s.waiting),
            ("dynamo-frontend", 7.0, 3.0)
        );
    }

    #[test]
    fn an_unknown_endpoint_names_what_it_exports() {
        let text = "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3\n\
            # TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 10\n";
        let s = map_metrics("http://x/metrics", text);
        assert_eq!(s.family, "");
        assert!(s.running.is_nan());
        assert_eq!(
            s.unknown_names,
            vec![
                "http_requests_total".to_string(),
                "process_cpu_seconds_total".into()
            ]
        );
    }
}
