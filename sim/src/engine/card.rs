//! Engine cards: the YAML file that describes the simulated engine (batching limits, KV cache
//! size, the step-time model). The format is documented in `sim/README.md`; two cards ship in
//! `sim/cards/`.

use std::path::Path;

use serde::Deserialize;

/// The card used when `--card` is not given: Llama-3.1-8B on one H100.
pub(crate) const DEFAULT_CARD: &str = include_str!("../../cards/llama-3.1-8b-h100.yaml");

/// Step time model: `base_us + prefill_us_per_token * prefill tokens + decode_us_per_seq *
/// decoding sequences + context_us_per_token * tokens of KV held by the scheduled sequences`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct StepModel {
    pub(crate) base_us: f64,
    pub(crate) prefill_us_per_token: f64,
    pub(crate) decode_us_per_seq: f64,
    #[serde(default)]
    pub(crate) context_us_per_token: f64,
}

/// A simulated engine's description.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct EngineCard {
    pub(crate) name: String,
    /// Where the numbers come from.
    #[serde(default)]
    pub(crate) source: String,
    /// Most sequences running at once (vLLM `max_num_seqs`).
    pub(crate) max_num_seqs: u32,
    /// Token budget of one step, prefill chunks and decode tokens together
    /// (vLLM `max_num_batched_tokens`, chunked prefill).
    pub(crate) max_num_batched_tokens: u32,
    /// Longest prompt + output (vLLM `max_model_len`); longer requests get a 400.
    pub(crate) max_model_len: u32,
    #[serde(default = "default_block_size")]
    pub(crate) block_size: u32,
    /// KV cache capacity in blocks.
    pub(crate) num_gpu_blocks: u32,
    #[serde(default = "default_true")]
    pub(crate) enable_prefix_caching: bool,
    pub(crate) step: StepModel,
    /// Mean of the exponential output length drawn when a request neither sets `ignore_eos`
    /// nor runs in deterministic mode (clipped to `min_tokens..=max_tokens`).
    #[serde(default = "default_output_len_mean")]
    pub(crate) output_len_mean: f64,
}

fn default_block_size() -> u32 {
    16
}
fn default_true() -> bool {
    true
}
fn default_output_len_mean() -> f64 {
    256.0
}

/// An engine card that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("cannot read engine card {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("engine card {path}: {source}")]
    Parse {
        path: String,
        source: serde_norway::Error,
    },
    #[error("engine card {path}: field `{field}` {why}")]
    Invalid {
        path: String,
        field: &'static str,
        why: &'static str,
    },
}

impl EngineCard {
    /// Loads and validates a card file.
    pub(crate) fn load(path: &Path) -> Result<EngineCard, CardError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CardError::Read {
            path: p.clone(),
            source,
        })?;
        Self::parse(&text, &p)
    }

    /// The built-in default card.
    pub(crate) fn builtin() -> EngineCard {
        Self::parse(DEFAULT_CARD, "<builtin>").unwrap_or_else(|e| panic!("builtin card: {e}"))
    }

    /// Parses and validates card text; `origin` names it in errors.
    pub(crate) fn parse(text: &str, origin: &str) -> Result<EngineCard, CardError> {
        let card: EngineCard = serde_norway::from_str(text).map_err(|source| CardError::Parse {
            path: origin.to_string(),
            source,
        })?;
        let invalid = |field, why| {
            Err(CardError::Invalid {
                path: origin.to_string(),
                field,
                why,
            })
        };
        if card.max_num_seqs == 0 {
            return invalid("max_num_seqs", "must be at least 1");
        }
        if card.max_num_batched_tokens == 0 {
            return invalid("max_num_batched_tokens", "must be at least 1");
        }
        if card.block_size == 0 {
            return invalid("block_size", "must be at least 1");
        }
        if card.num_gpu_blocks == 0 {
            return invalid("num_gpu_blocks", "must be at least 1");
        }
        if card.max_model_len < 2 {
            return invalid("max_model_len", "must be at least 2");
        }
        let s = &card.step;
        if [
            s.base_us,
            s.prefill_us_per_token,
            s.decode_us_per_seq,
            s.context_us_per_token,
        ]
        .iter()
        .any(|v| !v.is_finite() || *v < 0.0)
        {
            return invalid("step", "values must be finite and >= 0");
        }
        if !(card.output_len_mean.is_finite() && card.output_len_mean > 0.0) {
            return invalid("output_len_mean", "must be > 0");
        }
        Ok(card)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_cards_parse() {
        let c = EngineCard::builtin();
        assert_eq!(c.block_size, 16);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cards");
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            EngineCard::load(&p).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn rejects_unknown_fields_and_bad_values() {
        let bad = DEFAULT_CARD.replace("max_num_seqs: 256", "max_num_seqs: 0");
        assert!(EngineCard::parse(&bad, "x").is_err());
        let extra = format!("{DEFAULT_CARD}\nbogus: 1\n");
        assert!(EngineCard::parse(&extra, "x").is_err());
    }
}
