//! Helpers of the trace replay tests: each replayed call as the sim's ground truth saw it.

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
