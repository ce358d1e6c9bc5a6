//! vLLM's performance dashboard: the serving table of `convert-results-json-to-markdown.py`
//! (vLLM's `.buildkite/performance-benchmarks/scripts/`) with its exact column names, and the
//! per-test files that script loads (`serving_<test>.json`, the `vllm bench serve` result keys,
//! beside `serving_<test>.commands`, the server and client command lines it parses for TP/PP
//! size, dtype, dataset, input/output length and qps).
//!
//! A column that no stage knows is left out (as the script drops the keys no result has); a
//! cell a stage does not know is empty in markdown and `null` in JSON. After the script's
//! columns comes goodput (`request_goodput`, the key `vllm bench serve --goodput` writes): only
//! stages run with `report.goodput` constraints have it, so without constraints there is no
//! goodput figure (no column, or an empty cell), never a 0.

use super::benchmark_run::{BenchmarkRun, Parallelism, Statistics};
use super::build::gpu_label;
use super::summary::Cell;
use serde_json::{json, Map, Value};

/// (result key, column header), in the script's order, then goodput.
pub(crate) const VLLM_SERVING_COLUMNS: [(&str, &str); 27] = [
    ("test_name", "Test name"),
    ("model_id", "Model"),
    ("dataset_name", "Dataset Name"),
    ("input_len", "Input Len"),
    ("output_len", "Output Len"),
    ("tp_size", "TP Size"),
    ("pp_size", "PP Size"),
    ("dtype", "dtype"),
    ("gpu_type", "GPU"),
    ("completed", "# of req."),
    ("qps", "qps"),
    ("max_concurrency", "# of max concurrency."),
    ("request_throughput", "Tput (req/s)"),
    ("total_token_throughput", "Total Token Tput (tok/s)"),
    ("output_throughput", "Output Tput (tok/s)"),
    ("mean_ttft_ms", "Mean TTFT (ms)"),
    ("median_ttft_ms", "Median TTFT (ms)"),
    ("p99_ttft_ms", "P99 TTFT (ms)"),
    ("std_ttft_ms", "STD TTFT (ms)"),
    ("mean_tpot_ms", "Mean TPOT (ms)"),
    ("median_tpot_ms", "Median"),
    ("p99_tpot_ms", "P99"),
    ("std_tpot_ms", "STD TPOT (ms)"),
    ("mean_itl_ms", "Mean ITL (ms)"),
    ("median_itl_ms", "Median ITL (ms)"),
    ("p99_itl_ms", "P99 ITL (ms)"),
    ("request_goodput", "Goodput (req/s)"),
];

/// The serving table: the columns some stage knows, one row per stage.
#[derive(Debug, Clone, PartialEq)]
pub struct VllmTable {
    /// The column keys, in vLLM's order.
    pub columns: Vec<&'static str>,
    /// One row per stage, a cell per column (`None`: unknown).
    pub rows: Vec<Vec<Option<Cell>>>,
}

/// One stage as `vllm bench serve` would have written it, and the commands it would have run.
#[derive(Debug, Clone, PartialEq)]
pub struct VllmResult {
    /// vLLM's test name of the stage (`serving_<model>_tp<T>_<label>`).
    pub test_name: String,
    /// Result keys of `vllm bench serve` (plus `gpu_type`).
    pub result: Map<String, Value>,
    /// `{"server_command": "vllm serve ...", "client_command": "vllm bench serve ..."}`.
    pub commands: Value,
}

fn stage_label(r: &BenchmarkRun) -> &str {
    r.scenario
        .load
        .metadata
        .as_ref()
        .and_then(|m| m.get("stage_label"))
        .and_then(Value::as_str)
        .unwrap_or("stage")
}

fn round2(v: f64) -> f64 {
    if v.is_finite() {
        (v * 100.0).round() / 100.0
    } else {
        0.0
    }
}

/// The stages as `vllm bench serve` results.
pub fn vllm_results(profile_name: &str, reports: &[BenchmarkRun]) -> Vec<VllmResult> {
    reports
        .iter()
        .map(|r| {
            let facts = StageFacts::of(r);
            let test_name = format!("{profile_name}_{}", stage_label(r));
            VllmResult {
                result: result_columns(&test_name, r, &facts),
                test_name,
                commands: commands(&facts),
            }
        })
        .collect()
}

/// What vLLM's columns and commands take from a stage report besides its figures.
struct StageFacts {
    model: String,
    dataset: Option<String>,
    input_len: Option<u64>,
    output_len: Option<u64>,
    parallelism: Option<Parallelism>,
    dtype: Option<String>,
    /// The planned rate (a number, or "inf").
    rate: Option<Value>,
    users: Option<u64>,
}

impl StageFacts {
    fn of(r: &BenchmarkRun) -> StageFacts {
        let data = r.scenario.load.args.as_ref().and_then(|h| h.get("data"));
        let plan = r.stage_plan();
        let given_len = |k: &str| {
            data.and_then(|d| d.get(k))
                .and_then(|d| d.get("mean").or_else(|| d.get("max")))
                .and_then(Value::as_f64)
                .map(|v| v.round() as u64)
        };
        StageFacts {
            model: r.scenario.model.name.clone(),
            dataset: data
                .and_then(|d| d.get("type"))
                .and_then(Value::as_str)
                .map(|t| match t {
                    "shareGPT" => "sharegpt".to_string(),
                    t => t.to_string(),
                }),
            input_len: given_len("input_distribution"),
            output_len: given_len("output_distribution"),
            parallelism: (r.scenario.host.accelerator.first()).and_then(|a| a.parallelism.clone()),
            dtype: (r.scenario.platform.engine.first())
                .and_then(|e| e.args.get("dtype"))
                .and_then(Value::as_str)
                .map(str::to_string),
            rate: plan.and_then(|p| p.get("rate")).cloned(),
            users: plan.and_then(|p| p.get("users")).and_then(Value::as_u64),
        }
    }
}

/// One stage's columns, named as in vLLM's results JSON (absent values left out).
fn result_columns(test_name: &str, r: &BenchmarkRun, f: &StageFacts) -> Map<String, Value> {
    let l = &r.metrics.latency;
    let t = &r.metrics.throughput;
    let ok = r.metrics.requests.total - r.metrics.requests.failures.unwrap_or(0);
    let pick = |s: Option<&Statistics>, f: fn(&Statistics) -> Option<f64>| {
        json!(round2(s.and_then(f).unwrap_or(0.0)))
    };
    let mean = |s: &Statistics| Some(s.mean);
    let p50 = |s: &Statistics| s.p50;
    let p99 = |s: &Statistics| s.p99;
    let std = |s: &Statistics| s.stddev;
    let ttft = Some(&l.time_to_first_token);
    let tpot = l.time_per_output_token.as_ref();
    let itl = l.inter_token_latency.as_ref();
    let devices: Vec<String> = (r.scenario.host.accelerator.iter())
        .flat_map(|a| std::iter::repeat_n(a.model.clone(), a.count as usize))
        .collect();
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            m.insert(k.into(), v);
        }
    };
    put("test_name", json!(test_name));
    put("backend", json!("openai"));
    put("model_id", json!(f.model));
    put("dataset_name", json!(f.dataset));
    put("input_len", json!(f.input_len));
    put("output_len", json!(f.output_len));
    put("tp_size", json!(f.parallelism.as_ref().map(|p| p.tp)));
    put("pp_size", json!(f.parallelism.as_ref().map(|p| p.pp)));
    put("dtype", json!(f.dtype));
    put(
        "gpu_type",
        json!(if devices.is_empty() {
            gpu_label(r)
        } else {
            devices.join("\n")
        }),
    );
    put("completed", json!(ok));
    put("num_prompts", json!(r.metrics.requests.total));
    put("duration", json!(r.metrics.time.duration));
    put("qps", f.rate.clone().unwrap_or(Value::Null));
    put("max_concurrency", json!(f.users));
    put(
        "request_throughput",
        json!(round2(t.requests_per_sec.unwrap_or(0.0))),
    );
    put(
        "total_token_throughput",
        json!(round2(t.total_tokens_per_sec)),
    );
    put(
        "output_throughput",
        json!(round2(t.output_tokens_per_sec.unwrap_or(0.0))),
    );
    for (name, s) in [("ttft", ttft), ("tpot", tpot), ("itl", itl)] {
        put(&format!("mean_{name}_ms"), pick(s, mean));
        put(&format!("median_{name}_ms"), pick(s, p50));
        put(&format!("p99_{name}_ms"), pick(s, p99));
        put(&format!("std_{name}_ms"), pick(s, std));
    }
    // Goodput (`metrics.metadata.goodput`): absent without constraints.
    let goodput = (r.metrics.metadata.as_ref())
        .and_then(|m| m.pointer("/goodput/requests_per_sec"))
        .and_then(Value::as_f64);
    put("request_goodput", json!(goodput.map(round2)));
    m
}

/// The `vllm serve` and `vllm bench serve` commands that would run the stage.
fn commands(f: &StageFacts) -> Value {
    let model = &f.model;
    let mut server = format!("vllm serve {model}");
    if let Some(p) = &f.parallelism {
        server.push_str(&format!(
            " --tensor-parallel-size {} --pipeline-parallel-size {}",
            p.tp, p.pp
        ));
    }
    if let Some(d) = &f.dtype {
        server.push_str(&format!(" --dtype {d}"));
    }
    let mut client = format!("vllm bench serve --model {model}");
    if let Some(d) = &f.dataset {
        client.push_str(&format!(" --dataset-name {d}"));
    }
    if let Some(n) = f.input_len {
        client.push_str(&format!(" --random-input-len {n}"));
    }
    if let Some(n) = f.output_len {
        client.push_str(&format!(" --random-output-len {n}"));
    }
    match (&f.rate, f.users) {
        (Some(Value::Number(q)), _) => client.push_str(&format!(" --request-rate {q}")),
        (Some(Value::String(q)), _) => client.push_str(&format!(" --request-rate {q}")),
        (_, Some(u)) => client.push_str(&format!(" --request-rate inf --max-concurrency {u}")),
        _ => {}
    }
    json!({"server_command": server, "client_command": client})
}

/// The serving table as `convert-results-json-to-markdown.py` shows it.
pub fn vllm_table(results: &[VllmResult]) -> VllmTable {
    let cell = |v: &Value, key: &str| -> Option<Cell> {
        match v {
            Value::String(s) => Some(Cell::Text(s.clone())),
            Value::Number(n) if key == "qps" => Some(Cell::Text(n.to_string())),
            Value::Number(n) => Some(match n.as_u64() {
                Some(u) => Cell::Count(u),
                None => Cell::Number(n.as_f64().unwrap_or(0.0)),
            }),
            _ => None,
        }
    };
    let known: Vec<(&str, &str)> = VLLM_SERVING_COLUMNS
        .iter()
        .copied()
        .filter(|(k, _)| results.iter().any(|r| r.result.contains_key(*k)))
        .collect();
    VllmTable {
        columns: known.iter().map(|(_, h)| *h).collect(),
        rows: results
            .iter()
            .map(|r| {
                known
                    .iter()
                    .map(|(k, _)| r.result.get(*k).and_then(|v| cell(v, k)))
                    .map(|c| match c {
                        // The GPU column as the script shows it: `2xNVIDIA H100`.
                        Some(Cell::Text(s)) if s.contains('\n') => Some(Cell::Text(format!(
                            "{}x{}",
                            s.split('\n').count(),
                            s.split('\n').next().unwrap_or("")
                        ))),
                        c => c,
                    })
                    .collect()
            })
            .collect(),
    }
}

impl VllmTable {
    /// Markdown, numbers right-aligned.
    pub fn markdown(&self) -> String {
        let mut out = format!("| {} |\n|", self.columns.join(" | "));
        for r in 0..self.columns.len() {
            let text = self
                .rows
                .iter()
                .all(|row| matches!(row[r], Some(Cell::Text(_)) | None));
            out.push_str(if text { ":---|" } else { "---:|" });
        }
        out.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|c| match c {
                    Some(Cell::Text(s)) => s.clone(),
                    Some(Cell::Count(n)) => n.to_string(),
                    Some(Cell::Number(n)) => format!("{n:.2}"),
                    None => String::new(),
                })
                .collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }

    /// `{"latency": {}, "throughput": {}, "serving": {column: {"0": v, ...}}}`: what the script
    /// embeds in its page, and what `pandas.DataFrame.from_dict(d["serving"])` loads.
    pub fn json(&self) -> Value {
        let mut serving = Map::new();
        for (c, name) in self.columns.iter().enumerate() {
            let mut col = Map::new();
            for (r, row) in self.rows.iter().enumerate() {
                let v = match &row[c] {
                    Some(Cell::Text(s)) => json!(s),
                    Some(Cell::Count(n)) => json!(n),
                    Some(Cell::Number(n)) => json!(n),
                    None => Value::Null,
                };
                col.insert(r.to_string(), v);
            }
            serving.insert((*name).to_string(), Value::Object(col));
        }
        json!({"latency": {}, "throughput": {}, "serving": serving})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(goodput: Option<f64>) -> BenchmarkRun {
        let stat = |u: &str, v: f64| json!({"units": u, "mean": v, "p50": v, "p99": v});
        let mut meta = json!({});
        if let Some(g) = goodput {
            meta["goodput"] = json!({"good_requests": 3, "requests_per_sec": g});
        }
        serde_json::from_value(json!({
            "version": "0.1",
            "scenario": {
                "host": {"type": ["replica"], "accelerator": [{"model": "sim", "count": 0}]},
                "platform": {"engine": [{"name": "sim"}]},
                "model": {"name": "m"},
                "load": {"name": "inference-perf", "type": "constant",
                         "metadata": {"stage_label": "qps_02"}}
            },
            "metrics": {
                "time": {"duration": 2.0},
                "requests": {"total": 4, "failures": 0,
                             "input_length": stat("count", 8.0), "output_length": stat("count", 4.0)},
                "latency": {"time_to_first_token": stat("ms", 12.0)},
                "throughput": {"total_tokens_per_sec": 24.0, "requests_per_sec": 2.0},
                "metadata": meta
            }
        }))
        .unwrap()
    }

    /// Goodput is the last column only when a stage had constraints; a stage without them
    /// has no figure (null), never 0.
    #[test]
    fn goodput_appears_only_with_constraints() {
        let t = vllm_table(&vllm_results("p", &[report(None)]));
        assert!(!t.columns.contains(&"Goodput (req/s)"), "{:?}", t.columns);
        let t = vllm_table(&vllm_results("p", &[report(Some(1.456)), report(None)]));
        assert_eq!(t.columns.last(), Some(&"Goodput (req/s)"));
        let j = t.json();
        assert_eq!(j["serving"]["Goodput (req/s)"]["0"], json!(1.46));
        assert!(j["serving"]["Goodput (req/s)"]["1"].is_null());
        let md = t.markdown();
        let rows: Vec<&str> = md.lines().skip(2).collect();
        assert!(rows[0].ends_with("| 1.46 |"), "{md}");
        assert!(rows[1].ends_with("|  |"), "{md}");
    }
}
