//! P/D path verification (`metrics.metadata.pd_path`): did the stage's traffic really go
//! prefill → decode? Decided from the per-pool counters of `pools.rs` (the engines' own
//! `/metrics`, scraped by the agents of each host group):
//!
//! - the prefill pool computed the prompts: its prompt tokens computed (else processed) are
//!   more than zero and at least [`MIN_PREFILL_SHARE`] of all prompt tokens computed;
//! - the decode pool generated the tokens: more generated tokens than the prefill pool;
//! - the decode pool did not recompute the prompts: its own prompt tokens computed (vLLM's
//!   `request_prefill_kv_computed_tokens`, else processed less received over the KV
//!   connector) are at most [`MAX_DECODE_RECOMPUTE`] of what the prefill pool computed.
//!
//! `pass` when all hold, `fail` naming each that does not with its numbers, `inconclusive`
//! when a pool's engines export no counter to decide by. With `--require-pd` (default on when
//! the profile declares prefill and decode hosts) a `fail` fails the stage (`verdict.rs`).

use super::benchmark_run::BenchmarkRun;
use super::pools::{Pool, PoolBreakdown};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Least share of the computed prompt tokens the prefill pool must have computed.
pub(crate) const MIN_PREFILL_SHARE: f64 = 0.9;
/// Most prompt tokens the decode pool may compute itself, as a share of the prefill pool's.
pub(crate) const MAX_DECODE_RECOMPUTE: f64 = 0.1;

/// The P/D path check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PdStatus {
    /// Prefill computed the prompts and decode did not.
    Pass,
    /// The figures contradict a P/D path.
    Fail,
    /// The engines do not export what the check needs.
    Inconclusive,
}

impl PdStatus {
    /// The outcome as reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            PdStatus::Pass => "pass",
            PdStatus::Fail => "fail",
            PdStatus::Inconclusive => "inconclusive",
        }
    }
}

/// The check's verdict with its evidence (the numbers it decided by) and, when it did not
/// pass, what failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PdPath {
    /// The outcome.
    pub status: PdStatus,
    /// Whether a `fail` fails the stage (`--require-pd`).
    pub required: bool,
    /// The numbers it decided by.
    pub evidence: Vec<String>,
    /// What failed, when it did not pass.
    pub problems: Vec<String>,
}

impl PdPath {
    /// One line for the console and the text summaries.
    pub fn line(&self) -> String {
        let mut s = format!("P/D path check: {}", self.status.as_str().to_uppercase());
        if !self.problems.is_empty() {
            s.push_str(&format!(" — {}", self.problems.join("; ")));
        }
        s.push_str(&format!(" [evidence: {}]", self.evidence.join("; ")));
        s
    }
}

fn n(v: f64) -> String {
    format!("{v:.0}")
}

/// The prompt tokens a pool computed: the engine's computed count, else what it processed
/// less what it received over the KV connector; with the name it came from.
fn computed(p: &Pool) -> Option<(f64, &'static str)> {
    if let Some(c) = p.prompt_tokens_computed {
        return Some((c, "vllm:request_prefill_kv_computed_tokens"));
    }
    match (p.prompt_tokens, p.kv_received_tokens) {
        (Some(t), Some(r)) => Some((
            (t - r).max(0.0),
            "prompt_tokens_total - external_prefix_cache_hits_total",
        )),
        (Some(t), None) if p.kind == "prefill" => Some((t, "vllm:prompt_tokens_total")),
        _ => None,
    }
}

/// The check for a breakdown with a prefill and a decode pool; `None` otherwise.
pub(crate) fn check(b: &PoolBreakdown, required: bool) -> Option<PdPath> {
    let pre = b.pools.iter().find(|p| p.kind == "prefill")?;
    let dec = b.pools.iter().find(|p| p.kind == "decode")?;
    let mut evidence = Vec::new();
    let mut problems = Vec::new();
    let mut unknown = Vec::new();
    let pre_c = computed(pre);
    let dec_c = computed(dec);
    match pre_c {
        Some((c, from)) => evidence.push(format!(
            "prefill pool computed {} prompt tokens ({from}) in {} requests",
            n(c),
            pre.requests.map_or("?".into(), n)
        )),
        None => unknown.push("the prefill pool exports no prompt-token counter"),
    }
    match dec_c {
        Some((c, from)) => evidence.push(format!(
            "decode pool computed {} prompt tokens itself ({from}), received the KV of {} ({}), generated {} tokens in {} requests",
            n(c),
            dec.kv_received_tokens.map_or("?".into(), n),
            "vllm:external_prefix_cache_hits_total",
            dec.generation_tokens.map_or("?".into(), n),
            dec.requests.map_or("?".into(), n)
        )),
        None => unknown.push("the decode pool exports no counter of prompt tokens computed or received"),
    }
    if let (Some((p, _)), Some((d, _))) = (pre_c, dec_c) {
        let share = if p + d > 0.0 { p / (p + d) } else { 0.0 };
        if p <= 0.0 || share < MIN_PREFILL_SHARE {
            problems.push(format!(
                "the prefill pool computed {} of {} prompt tokens computed ({:.0}%, at least {:.0}% expected)",
                n(p),
                n(p + d),
                share * 100.0,
                MIN_PREFILL_SHARE * 100.0
            ));
        }
        if d > MAX_DECODE_RECOMPUTE * p {
            problems.push(format!(
                "the decode pool recomputed prompts: {} prompt tokens computed on decode against {} on prefill (at most {:.0}% allowed)",
                n(d),
                n(p),
                MAX_DECODE_RECOMPUTE * 100.0
            ));
        }
    }
    match (dec.generation_tokens, pre.generation_tokens) {
        (Some(d), p) if d > 0.0 && d >= p.unwrap_or(0.0) => {}
        (Some(d), p) => problems.push(format!(
            "the decode pool generated {} tokens, the prefill pool {}",
            n(d),
            p.map_or("?".into(), n)
        )),
        (None, _) => unknown.push("the decode pool exports no generation-token counter"),
    }
    let status = if !problems.is_empty() {
        PdStatus::Fail
    } else if !unknown.is_empty() {
        problems.extend(unknown.iter().map(|u| u.to_string()));
        PdStatus::Inconclusive
    } else {
        PdStatus::Pass
    };
    Some(PdPath {
        status,
        required,
        evidence,
        problems,
    })
}

/// Whether the profile declares prefill and decode hosts (`fleet.hosts[].role`): then
/// `--require-pd` is on unless turned off.
pub fn declares_pd(profile: &fleetbench_profile::Profile) -> bool {
    let hosts = profile.fleet.hosts.as_deref().unwrap_or_default();
    let has = |r: &str| hosts.iter().any(|h| h.role.as_deref() == Some(r));
    has("prefill") && has("decode")
}

/// Checks the stage report's `metrics.metadata.pools` and stores the result as
/// `metrics.metadata.pd_path`; `None` (nothing stored) without a prefill and a decode pool.
pub fn attach(report: &mut BenchmarkRun, required: bool) -> Option<PdPath> {
    let meta = report.metrics.metadata.as_mut()?.as_object_mut()?;
    let pools: PoolBreakdown = serde_json::from_value(meta.get("pools")?.clone()).ok()?;
    let v = check(&pools, required)?;
    meta.insert("pd_path".into(), serde_json::to_value(&v).ok()?);
    Some(v)
}

/// The P/D path check stored in a stage report, if any.
pub(crate) fn stored(report: &BenchmarkRun) -> Option<PdPath> {
    let v: &Value = report.metrics.metadata.as_ref()?.get("pd_path")?;
    serde_json::from_value(v.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(kind: &str, computed: f64, received: f64, generated: f64) -> Pool {
        Pool {
            kind: kind.into(),
            requests: Some(10.0),
            prompt_tokens: Some(computed + received),
            prompt_tokens_computed: Some(computed),
            generation_tokens: Some(generated),
            kv_received_tokens: Some(received),
            ..Pool::default()
        }
    }

    #[test]
    fn prefill_then_decode_passes_and_decode_only_fails_naming_its_numbers() {
        let good = PoolBreakdown {
            pools: vec![
                pool("prefill", 320.0, 0.0, 0.0),
                pool("decode", 0.0, 320.0, 80.0),
            ],
            ttft: None,
        };
        let v = check(&good, true).unwrap();
        assert_eq!(v.status, PdStatus::Pass, "{v:?}");
        assert!(v.evidence[0].contains("computed 320 prompt tokens"));

        let fallback = PoolBreakdown {
            pools: vec![
                pool("prefill", 0.0, 0.0, 0.0),
                pool("decode", 320.0, 0.0, 80.0),
            ],
            ttft: None,
        };
        let v = check(&fallback, true).unwrap();
        assert_eq!(v.status, PdStatus::Fail);
        assert!(v
            .line()
            .contains("recomputed prompts: 320 prompt tokens computed on decode"));
        assert!(v.line().contains("the prefill pool computed 0 of 320"));
    }

    #[test]
    fn no_counters_is_inconclusive_and_no_pd_pools_is_no_check() {
        let none = PoolBreakdown {
            pools: vec![
                Pool {
                    kind: "prefill".into(),
                    ..Pool::default()
                },
                Pool {
                    kind: "decode".into(),
                    ..Pool::default()
                },
            ],
            ttft: None,
        };
        assert_eq!(check(&none, true).unwrap().status, PdStatus::Inconclusive);
        let replica = PoolBreakdown {
            pools: vec![pool("replica", 1.0, 0.0, 1.0)],
            ttft: None,
        };
        assert!(check(&replica, true).is_none());
    }
}
