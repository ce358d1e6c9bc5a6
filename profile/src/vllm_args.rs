//! The `args` string of a sweep matrix entry: vLLM command-line flags. Client flags
//! (`--model`, `--num-prompts`, `--request-rate`, ...) are applied; engine flags
//! (`--gpu-memory-utilization`, `--quantization`, ...) describe the deployment and are recorded
//! in the report; flags that a matrix gives another way, and unknown flags, are errors naming
//! them.

use serde_norway::Value;
use std::collections::BTreeMap;

/// The client flags fleetbench applies.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct ClientArgs {
    pub(super) model: Option<String>,
    pub(super) tokenizer: Option<String>,
    pub(super) num_prompts: Option<u64>,
    pub(super) request_rate: Option<f64>,
    pub(super) burstiness: Option<f64>,
    pub(super) max_concurrency: Option<u32>,
    pub(super) seed: Option<u64>,
}

/// An entry's `args`: client flags, and the engine flags that describe the deployment (recorded
/// in the report's `platform.engine[].args`; fleetbench does not start the server).
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Args {
    pub(super) client: ClientArgs,
    pub(super) engine: BTreeMap<String, Value>,
    pub(super) pipeline_parallel: Option<u32>,
    pub(super) data_parallel: Option<u32>,
}

const CLIENT_FLAGS: [&str; 7] = [
    "--model",
    "--tokenizer",
    "--num-prompts",
    "--request-rate",
    "--burstiness",
    "--max-concurrency",
    "--seed",
];

/// vLLM engine flags, recorded as the deployment's engine arguments.
const ENGINE_FLAGS: [&str; 44] = [
    "--gpu-memory-utilization",
    "--quantization",
    "--max-model-len",
    "--max-num-seqs",
    "--max-num-batched-tokens",
    "--dtype",
    "--kv-cache-dtype",
    "--enforce-eager",
    "--enable-prefix-caching",
    "--no-enable-prefix-caching",
    "--enable-chunked-prefill",
    "--no-enable-chunked-prefill",
    "--trust-remote-code",
    "--download-dir",
    "--load-format",
    "--block-size",
    "--swap-space",
    "--cpu-offload-gb",
    "--pipeline-parallel-size",
    "--data-parallel-size",
    "--enable-expert-parallel",
    "--distributed-executor-backend",
    "--max-seq-len-to-capture",
    "--disable-log-stats",
    "--disable-log-requests",
    "--revision",
    "--tokenizer-mode",
    "--served-model-name",
    "--speculative-config",
    "--compilation-config",
    "--async-scheduling",
    "--max-logprobs",
    "--disable-custom-all-reduce",
    "--enable-lora",
    "--max-loras",
    "--max-lora-rank",
    "--scheduling-policy",
    "--hf-overrides",
    "--generation-config",
    "--long-prefill-token-threshold",
    "--max-num-partial-prefills",
    "--kv-transfer-config",
    "--num-gpu-blocks-override",
    "--disable-sliding-window",
];

/// Flags of vLLM's benchmarks that a matrix gives another way.
const ELSEWHERE: [(&str, &str); 17] = [
    (
        "--tensor-parallel-size",
        "tensor parallel sizes come from tensor_parallel_sizes",
    ),
    (
        "-tp",
        "tensor parallel sizes come from tensor_parallel_sizes",
    ),
    ("--input-len", "lengths come from length_configs"),
    ("--output-len", "lengths come from length_configs"),
    ("--prefix-len", "lengths come from length_configs"),
    ("--random-input-len", "lengths come from length_configs"),
    ("--random-output-len", "lengths come from length_configs"),
    ("--random-prefix-len", "lengths come from length_configs"),
    (
        "--random-range-ratio",
        "lengths come from length_configs (fixed lengths)",
    ),
    (
        "--dataset-name",
        "the data is random with the lengths of length_configs",
    ),
    (
        "--dataset-path",
        "the data is random with the lengths of length_configs",
    ),
    ("--backend", "the endpoint is the matrix's server section"),
    ("--base-url", "the endpoint is the matrix's server section"),
    ("--host", "the endpoint is the matrix's server section"),
    ("--port", "the endpoint is the matrix's server section"),
    (
        "--endpoint",
        "the endpoint is the matrix's server section (and api.type)",
    ),
    ("--save-result", "every run writes results/<run-id>/"),
];

/// Parses an entry's `args` string (shell quoting: '...', "...", backslash).
pub(super) fn parse_args(text: &str) -> Result<Args, String> {
    let words = shell_words(text)?;
    let mut out = Args::default();
    let mut k = 0;
    while k < words.len() {
        let word = &words[k];
        k += 1;
        if !word.starts_with('-') {
            return Err(format!(
                "unexpected argument {word:?}: args holds --flag value pairs"
            ));
        }
        let (flag, inline) = match word.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (word.clone(), None),
        };
        let next_is_value = words.get(k).is_some_and(|w| !w.starts_with("--"));
        let mut value = |needs: bool| -> Result<Option<String>, String> {
            if inline.is_some() {
                return Ok(inline.clone());
            }
            if next_is_value {
                k += 1;
                return Ok(Some(words[k - 1].clone()));
            }
            if needs {
                Err(format!("{flag} needs a value"))
            } else {
                Ok(None)
            }
        };
        if let Some((_, why)) = ELSEWHERE.iter().find(|(f, _)| *f == flag) {
            return Err(format!("{flag} is not used in a matrix: {why}"));
        }
        let number = |v: &str, what: &str| -> Result<f64, String> {
            v.parse::<f64>()
                .ok()
                .filter(|x| !x.is_nan() && *x > 0.0)
                .ok_or_else(|| format!("{flag} {v:?}: expected {what}"))
        };
        let c = &mut out.client;
        match flag.as_str() {
            "--model" => c.model = value(true)?,
            "--tokenizer" => c.tokenizer = value(true)?,
            "--num-prompts" => {
                let v = value(true)?.unwrap_or_default();
                c.num_prompts = Some(
                    v.parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("{flag} {v:?}: expected a number of requests ≥ 1"))?,
                );
            }
            "--request-rate" => {
                let v = value(true)?.unwrap_or_default();
                c.request_rate = Some(if matches!(v.as_str(), "inf" | "infinity" | "Infinity") {
                    f64::INFINITY
                } else {
                    number(&v, "requests/s > 0 or inf")?
                });
            }
            "--burstiness" => {
                let v = value(true)?.unwrap_or_default();
                c.burstiness = Some(number(&v, "a gamma shape > 0 (1 = Poisson)")?);
            }
            "--max-concurrency" => {
                let v = value(true)?.unwrap_or_default();
                c.max_concurrency = Some(
                    v.parse::<u32>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("{flag} {v:?}: expected a number of users ≥ 1"))?,
                );
            }
            "--seed" => {
                let v = value(true)?.unwrap_or_default();
                c.seed = Some(
                    v.parse::<u64>()
                        .map_err(|_| format!("{flag} {v:?}: expected an integer ≥ 0"))?,
                );
            }
            f if ENGINE_FLAGS.contains(&f) || f == "-pp" || f == "-dp" => {
                let name = match f {
                    "-pp" => "pipeline_parallel_size".to_string(),
                    "-dp" => "data_parallel_size".to_string(),
                    _ => f.trim_start_matches('-').replace('-', "_"),
                };
                let v = value(false)?;
                let parsed = match &v {
                    None => Value::Bool(true),
                    Some(s) => scalar(s),
                };
                let degree = || {
                    v.as_deref()
                        .and_then(|s| s.parse::<u32>().ok())
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("{flag}: expected a degree ≥ 1"))
                };
                match name.as_str() {
                    "pipeline_parallel_size" => out.pipeline_parallel = Some(degree()?),
                    "data_parallel_size" => out.data_parallel = Some(degree()?),
                    _ => {}
                }
                out.engine.insert(name, parsed);
            }
            _ => {
                return Err(format!(
                    "unknown flag {flag}; client flags (applied): {}; vLLM engine flags (recorded in the report, not applied: fleetbench does not start the server): {}",
                    CLIENT_FLAGS.join(", "),
                    ENGINE_FLAGS.join(", ")
                ))
            }
        }
    }
    Ok(out)
}

/// A flag's value as YAML reads it (numbers and booleans typed), else the text.
fn scalar(s: &str) -> Value {
    match serde_norway::from_str::<Value>(s) {
        Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
        _ => Value::String(s.to_string()),
    }
}

/// Splits a command line into words: whitespace separates, '...' and "..." quote, a backslash
/// escapes the next character (not inside '...').
fn shell_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err("unclosed ' in args".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch) => cur.push(ch),
                            None => return Err("unclosed \" in args".into()),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err("unclosed \" in args".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(ch) = chars.next() {
                    cur.push(ch);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_split_like_a_shell() {
        assert_eq!(
            shell_words(" --model \"a b\" --x='c d' e\\ f\n--g").unwrap(),
            ["--model", "a b", "--x=c d", "e f", "--g"]
        );
        assert!(shell_words("--model \"open").is_err());
        let a =
            parse_args("--model=m --pipeline-parallel-size 2 -dp 3 --max-model-len 4096").unwrap();
        assert_eq!(a.client.model.as_deref(), Some("m"));
        assert_eq!((a.pipeline_parallel, a.data_parallel), (Some(2), Some(3)));
        assert_eq!(a.engine["max_model_len"], Value::from(4096));
        assert!(parse_args("stray").unwrap_err().contains("stray"));
        assert!(parse_args("--num-prompts")
            .unwrap_err()
            .contains("needs a value"));
    }
}
