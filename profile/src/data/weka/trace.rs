//! A Weka trace as inference-perf reads it (`WekaTrace` and its request kinds, pydantic models
//! of `weka_trace_replay_datagen.py`), and its timing: subagent requests packed into parallel
//! streams, idle gaps between request starts capped (`_IdleGapTimeWarp`).

use serde::Deserialize;

/// The largest token count one recorded request may give (`in`, `out`, the trace's tool and
/// system tokens): a rebuilt prompt stays bounded.
const MAX_TOKENS: i64 = 10_000_000;

/// One trace: a session of one agent and the subagents it spawned.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WekaTrace {
    pub id: String,
    /// Required, as inference-perf's model has it; the models are mapped per request.
    #[allow(dead_code)]
    pub models: Vec<String>,
    pub block_size: i64,
    #[serde(default)]
    pub tool_tokens: i64,
    #[serde(default)]
    pub system_tokens: i64,
    pub requests: Vec<Entry>,
}

/// An entry of a trace's `requests`, told apart by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type")]
pub(crate) enum Entry {
    /// `n`: a request.
    #[serde(rename = "n")]
    Normal(Request),
    /// `s`: a streamed request (its `ttft` is not read).
    #[serde(rename = "s")]
    Streaming(Request),
    /// `subagent`: a subagent and its own requests.
    #[serde(rename = "subagent")]
    Subagent(Subagent),
}

/// One recorded LLM request: its start, model, token counts and prompt block hash ids.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Request {
    pub t: f64,
    pub model: String,
    #[serde(rename = "in")]
    pub input: i64,
    #[serde(rename = "out")]
    pub output: i64,
    /// Python ints: any 64-bit value, signed or not, as the seed's text writes it.
    #[serde(default, deserialize_with = "python_ints")]
    pub hash_ids: Vec<i128>,
    #[serde(default)]
    pub api_time: Option<f64>,
}

/// A subagent: when it started, how long it ran, and its requests (of type `n`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Subagent {
    pub t: f64,
    pub agent_id: String,
    #[allow(dead_code)]
    pub subagent_type: String,
    #[serde(default)]
    #[allow(dead_code)]
    pub duration_ms: Option<i64>,
    #[serde(default)]
    pub requests: Vec<SubRequest>,
    #[serde(default)]
    pub tool_tokens: i64,
    #[serde(default)]
    pub system_tokens: i64,
}

/// A subagent's request: `type` must be `n`, as inference-perf's model says.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SubRequest {
    #[serde(rename = "type")]
    pub kind: NormalTag,
    #[serde(flatten)]
    pub request: Request,
}

/// The tag `n`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) enum NormalTag {
    #[serde(rename = "n")]
    N,
}

/// A list of integers of either 64-bit range (a JSON number that is not an integer is refused).
fn python_ints<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<i128>, D::Error> {
    let numbers = Vec::<serde_json::Number>::deserialize(d)?;
    (numbers.iter())
        .map(|n| {
            (n.as_i64().map(i128::from))
                .or_else(|| n.as_u64().map(i128::from))
                .ok_or_else(|| serde::de::Error::custom(format!("hash id {n} is not an integer")))
        })
        .collect()
}

impl WekaTrace {
    /// The trace's counts within bounds (`Err` names the first that is not).
    pub(crate) fn check(&self) -> Result<(), String> {
        let tokens = |what: &str, v: i64| {
            if (0..=MAX_TOKENS).contains(&v) {
                Ok(())
            } else {
                Err(format!("{what} is {v}: from 0 to {MAX_TOKENS} tokens"))
            }
        };
        if !(1..=crate::weka::MAX_BLOCK_SIZE).contains(&self.block_size) && self.block_size != 0 {
            return Err(format!(
                "block_size is {}: from 1 to {}",
                self.block_size,
                crate::weka::MAX_BLOCK_SIZE
            ));
        }
        tokens("tool_tokens", self.tool_tokens)?;
        tokens("system_tokens", self.system_tokens)?;
        for (i, e) in self.requests.iter().enumerate() {
            let check = |r: &Request, at: String| {
                tokens(&format!("{at}.in"), r.input)?;
                tokens(&format!("{at}.out"), r.output)?;
                if !r.t.is_finite() || !r.api_time.unwrap_or(0.0).is_finite() {
                    return Err(format!("{at}: t and api_time must be finite numbers"));
                }
                Ok(())
            };
            match e {
                Entry::Normal(r) | Entry::Streaming(r) => check(r, format!("requests[{i}]"))?,
                Entry::Subagent(s) => {
                    tokens(&format!("requests[{i}].tool_tokens"), s.tool_tokens)?;
                    tokens(&format!("requests[{i}].system_tokens"), s.system_tokens)?;
                    if !s.t.is_finite() {
                        return Err(format!("requests[{i}].t must be a finite number"));
                    }
                    for (k, r) in s.requests.iter().enumerate() {
                        let _ = r.kind;
                        check(&r.request, format!("requests[{i}].requests[{k}]"))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// `_subagent_request_absolute_t`: a subagent request's start in the trace's time (a start
/// before the subagent's is taken as relative to it).
pub(crate) fn absolute_t(s: &Subagent, r: &Request) -> f64 {
    if r.t + 1e-6 < s.t {
        s.t + r.t
    } else {
        r.t
    }
}

/// `_pack_into_streams`: a subagent's requests by start, each placed in the first stream whose
/// last request has ended by then (else a new stream).
pub(crate) fn pack_into_streams(requests: &[Request]) -> Vec<Vec<Request>> {
    let mut sorted: Vec<&Request> = requests.iter().collect();
    sorted.sort_by(|a, b| a.t.total_cmp(&b.t));
    let mut streams: Vec<Vec<Request>> = Vec::new();
    let mut ends: Vec<f64> = Vec::new();
    for r in sorted {
        let end = r.t + r.api_time.unwrap_or(0.0);
        match ends.iter().position(|&e| e <= r.t) {
            Some(i) => {
                streams[i].push(r.clone());
                ends[i] = end;
            }
            None => {
                streams.push(vec![r.clone()]);
                ends.push(end);
            }
        }
    }
    streams
}

/// `_IdleGapTimeWarp`: request starts with every gap between consecutive starts longer than
/// the cap shortened to it.
pub(crate) struct IdleGapWarp {
    /// (raw start, raw end, shift before, excess) of each capped gap, in order.
    gaps: Vec<(f64, f64, f64, f64)>,
    cap: f64,
}

impl IdleGapWarp {
    /// The warp of `starts` with gaps capped at `cap` seconds; `cap <= 0`: none.
    pub(crate) fn new(starts: &[f64], cap: f64) -> IdleGapWarp {
        let mut gaps = Vec::new();
        if cap > 0.0 {
            let mut sorted = starts.to_vec();
            sorted.sort_by(f64::total_cmp);
            let mut shift = 0.0;
            for w in sorted.windows(2) {
                let gap = w[1] - w[0];
                if gap > cap {
                    let excess = gap - cap;
                    gaps.push((w[0], w[1], shift, excess));
                    shift += excess;
                }
            }
        }
        IdleGapWarp { gaps, cap }
    }

    /// `map`: a raw time in warped seconds.
    pub(crate) fn map(&self, t: f64) -> f64 {
        let mut shift = 0.0;
        for &(start, end, before, excess) in &self.gaps {
            if t < start {
                return t - before;
            }
            if t < end {
                if t - start <= self.cap {
                    return t - before;
                }
                return start - before + self.cap;
            }
            shift = before + excess;
        }
        t - shift
    }
}
