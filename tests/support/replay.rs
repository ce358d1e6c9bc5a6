//! Helpers of the trace replay tests: each replayed call as the sim's ground truth saw it.

use crate::{start_sim, Proc};
use anyhow::Result;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// What the sim saw of one replayed call.
#[derive(Debug, Clone, Copy)]
pub struct SimCall {
    /// When its request arrived (µs since the epoch).
    pub arrival_us: u64,
    /// When its last token was written (its arrival when it had none).
    pub end_us: u64,
    /// The prompt tokens the sim counted.
    pub prompt: u64,
    /// The tokens it generated.
    pub completion: u64,
}

/// The run's calls in the sim's ground truth at `truth`: session → call → what the sim saw
/// (request ids are `<stage>-<session << 16 | call>`); preflight requests left out. A call
/// that reached the sim twice fails the test.
pub fn calls_at_sim(truth: &Path) -> Result<BTreeMap<u64, BTreeMap<u64, SimCall>>> {
    let mut out: BTreeMap<u64, BTreeMap<u64, SimCall>> = BTreeMap::new();
    for line in std::fs::read_to_string(truth)?.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let rec: Value = serde_json::from_str(line)?;
        let id = rec["request_id"].as_str().unwrap_or("");
        if id.starts_with("preflight-") {
            continue;
        }
        let index: u64 = id.split_once('-').expect("<stage>-<index>").1.parse()?;
        let n = |k: &str| rec[k].as_u64().unwrap_or(u64::MAX);
        let last = (rec["token_unix_us"].as_array()).and_then(|t| t.last()?.as_u64());
        let seen = SimCall {
            arrival_us: n("arrival_unix_us"),
            end_us: last.unwrap_or(n("arrival_unix_us")),
            prompt: n("prompt_tokens"),
            completion: n("completion_tokens"),
        };
        let prev = (out.entry(index >> 16).or_default()).insert(index & 0xFFFF, seen);
        assert!(prev.is_none(), "call {id} reached the sim twice");
    }
    Ok(out)
}

/// A replayed call as a test expects it: its input segments (`kind`, messages, source call),
/// the words of each of its recorded messages, its predecessors and its recorded wait.
pub struct ExpectedCall<'a> {
    /// `(shared|output|unique, messages, source call)` each.
    pub segments: Vec<(&'a str, usize, Option<u64>)>,
    /// Words of each recorded input message (as the agent sends a unique one).
    pub words: Vec<u64>,
    /// The calls it waits for.
    pub preds: Vec<u64>,
    /// Its recorded gap after its predecessors, in ms.
    pub wait_ms: u64,
}

/// Call `k` of `session` as the sim saw it (`got`, the session's calls): its prompt is the words
/// inference-perf's output-aware replay sends (a shared prefix as its source sent it, in `sent`;
/// a source's output as the sim generated it; its own messages' words), and it arrived at least
/// its wait (capped at `cap_ms`, less 2 ms) after each predecessor's last token. Returns the
/// words of each message it sent.
pub fn check_replayed_call(
    session: u64,
    k: u64,
    want: &ExpectedCall<'_>,
    got: &BTreeMap<u64, SimCall>,
    sent: &[Vec<u64>],
    cap_ms: u64,
) -> Vec<u64> {
    let s = got[&k];
    let mut mine: Vec<u64> = Vec::new();
    for &(kind, n, source) in &want.segments {
        let at = mine.len();
        match (kind, source) {
            ("shared", Some(src)) => mine.extend_from_slice(&sent[src as usize][..n]),
            ("output", Some(src)) => mine.push(got[&src].completion),
            _ => mine.extend_from_slice(&want.words[at..at + n]),
        }
    }
    assert_eq!(
        s.prompt,
        mine.iter().sum::<u64>(),
        "session {session} call {k}: the words it sent, {mine:?}"
    );
    for p in &want.preds {
        let before = got[p];
        let gap_us = s.arrival_us as i64 - before.end_us as i64;
        let want_us = want.wait_ms.min(cap_ms) as i64 * 1000;
        assert!(
            gap_us >= want_us - 2_000,
            "session {session}: call {k} arrived {gap_us} µs after predecessor {p}'s last token; its wait is {want_us} µs"
        );
    }
    mine
}

impl<'a> ExpectedCall<'a> {
    /// A call of a golden file's graph (`preds`, `wait_ms`, `segments` as
    /// `[kind, messages, tokens, source]`), with the words of its recorded messages.
    pub fn from_golden(event: &'a Value, words: Vec<u64>) -> ExpectedCall<'a> {
        let list = |k: &str| event[k].as_array().map(Vec::as_slice).unwrap_or_default();
        ExpectedCall {
            segments: (list("segments").iter())
                .map(|s| {
                    let kind = s[0].as_str().unwrap_or("");
                    (kind, s[1].as_u64().unwrap_or(0) as usize, s[3].as_u64())
                })
                .collect(),
            words,
            preds: list("preds").iter().filter_map(Value::as_u64).collect(),
            wait_ms: event["wait_ms"].as_u64().unwrap_or(0),
        }
    }
}

/// The sim in engine mode (short outputs, as a model's tool calls are; `tools` and
/// `tool_choice` checked as vLLM checks them) with its ground truth, `extra` flags added; the
/// ground truth's path.
pub fn start_engine_sim(dir: &Path, extra: &[&str]) -> Result<(Proc, String, std::path::PathBuf)> {
    let card = dir.join("card.yaml");
    std::fs::write(
        &card,
        "name: fast\nmax_num_seqs: 8\nmax_num_batched_tokens: 8192\nmax_model_len: 16384\n\
         block_size: 16\nnum_gpu_blocks: 4096\nenable_prefix_caching: true\n\
         step: {base_us: 1000, prefill_us_per_token: 1, decode_us_per_seq: 10, context_us_per_token: 0}\n\
         output_len_mean: 6\n",
    )?;
    let truth = dir.join("truth.jsonl");
    let (card_arg, truth_arg) = (card.display().to_string(), truth.display().to_string());
    let mut flags = vec!["--card", &card_arg, "--ground-truth", &truth_arg];
    flags.extend_from_slice(extra);
    let (guard, sim) = start_sim(dir, "sim", &flags)?;
    Ok((guard, sim, truth))
}
