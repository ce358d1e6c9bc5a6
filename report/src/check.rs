//! Format checks of the reports fleetbench writes, as llm-d's published JSON Schemas and
//! models state them: required fields, the unit set each statistic allows, enums (host types,
//! workload generators, load source, distributions, roles), value ranges, and for v0.2.1 no
//! field the schema does not know (the serde model refuses unknown fields). Each check returns
//! every problem found, with its path.

use super::v0_2_1::ReportV021;
use serde_json::Value;

const QUANTITY: &[&str] = &["count", "pixels"];
const PORTION: &[&str] = &["percent", "fraction"];
const TIME: &[&str] = &["ms", "s"];
const MEMORY: &[&str] = &["bytes", "MB", "GB", "TB", "MiB", "GiB", "TiB"];
const BANDWIDTH: &[&str] = &["Mbit/s", "Gbit/s", "Tbit/s", "MB/s", "GB/s", "TB/s"];
const GEN_LATENCY: &[&str] = &["ms/token", "s/token"];
const GEN_THROUGHPUT: &[&str] = &["tokens/s"];
const REQUEST_THROUGHPUT: &[&str] = &["queries/s"];
const POWER: &[&str] = &["Watts"];
/// Every unit of schema 0.1 (v0.2.1 adds `pixels`, `ratio`, `bytes` and media rates).
const UNITS_0_1: &[&str] = &[
    "count", "percent", "fraction", "ms", "s", "MB", "GB", "TB", "MiB", "GiB", "TiB", "Mbit/s",
    "Gbit/s", "Tbit/s", "GiB/s", "MB/s", "GB/s", "TB/s", "ms/token", "s/token", "Watts",
];
const UNITS_0_2_1: &[&str] = &[
    "count",
    "pixels",
    "percent",
    "fraction",
    "ratio",
    "ms",
    "s",
    "bytes",
    "MB",
    "GB",
    "TB",
    "MiB",
    "GiB",
    "TiB",
    "Mbit/s",
    "Gbit/s",
    "Tbit/s",
    "GiB/s",
    "MB/s",
    "GB/s",
    "TB/s",
    "ms/token",
    "s/token",
    "tokens/s",
    "queries/s",
    "images/s",
    "videos/s",
    "audios/s",
    "Watts",
];
const HOST_TYPES: &[&str] = &["replica", "prefill", "decode"];
const GENERATORS_0_1: &[&str] = &["guidellm", "inference-perf", "vllm-benchmark", "nop"];
const PERCENTILES: [&str; 13] = [
    "min", "p0p1", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "p99p9", "max",
];

struct Checker<'a> {
    root: &'a Value,
    units: &'a [&'a str],
    errors: Vec<String>,
}

fn at<'v>(v: &'v Value, path: &str) -> &'v Value {
    path.split('.').fold(v, |v, k| match k.parse::<usize>() {
        Ok(i) if v.is_array() => &v[i],
        _ => &v[k],
    })
}

impl Checker<'_> {
    fn fail(&mut self, msg: String) {
        self.errors.push(msg);
    }

    fn required(&mut self, paths: &[&str]) {
        for p in paths {
            if at(self.root, p).is_null() {
                self.fail(format!("{p}: required field is missing"));
            }
        }
    }

    fn one_of(&mut self, path: &str, allowed: &[&str]) {
        match at(self.root, path).as_str() {
            Some(v) if allowed.contains(&v) => {}
            Some(v) => self.fail(format!("{path}: `{v}` is not one of {allowed:?}")),
            None => self.fail(format!("{path}: must be a string, one of {allowed:?}")),
        }
    }

    /// A statistics object, when present: units from `allowed`, a numeric mean, stddev ≥ 0,
    /// percentiles in order.
    fn stat(&mut self, path: &str, allowed: &[&str]) {
        let s = at(self.root, path);
        if s.is_null() {
            return;
        }
        self.stat_value(path, s, allowed);
    }

    fn stat_value(&mut self, path: &str, s: &Value, allowed: &[&str]) {
        match s["units"].as_str() {
            Some(u) if !self.units.contains(&u) => {
                self.fail(format!("{path}.units: `{u}` is not a unit of the schema"))
            }
            Some(u) if !allowed.contains(&u) => {
                self.fail(format!("{path}.units: `{u}` is not one of {allowed:?}"))
            }
            Some(_) => {}
            None => self.fail(format!("{path}.units: required field is missing")),
        }
        if !s["mean"].is_number() {
            self.fail(format!("{path}.mean: required number is missing"));
        }
        if s["stddev"].as_f64().is_some_and(|v| v < 0.0) {
            self.fail(format!("{path}.stddev: negative"));
        }
        let vals: Vec<f64> = PERCENTILES.iter().filter_map(|k| s[*k].as_f64()).collect();
        if !vals.windows(2).all(|w| w[0] <= w[1] + 1e-9) {
            self.fail(format!("{path}: percentiles are not in order"));
        }
    }

    fn series(&mut self, path: &str, allowed: &[&str]) {
        let s = at(self.root, path);
        if s.is_null() {
            return;
        }
        match s["units"].as_str() {
            Some(u) if allowed.contains(&u) => {}
            u => self.fail(format!("{path}.units: {u:?} is not one of {allowed:?}")),
        }
        for (k, p) in s["series"].as_array().into_iter().flatten().enumerate() {
            if !p["ts"].as_str().is_some_and(is_iso8601) {
                self.fail(format!("{path}.series.{k}.ts: not an ISO-8601 instant"));
            }
        }
    }

    fn min(&mut self, path: &str, min: f64) {
        if let Some(v) = at(self.root, path).as_f64() {
            if v < min {
                self.fail(format!("{path}: {v} is below {min}"));
            }
        }
    }
}

/// `2026-12-01T18:00:42.123Z` (or without fraction / with an offset).
fn is_iso8601(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
}

/// BenchmarkRun 0.1 (llm-d's `br_v0_1_json_schema.json` and `schema_v0_1.py`).
pub fn check_v0_1(r: &Value) -> Result<(), Vec<String>> {
    let mut c = Checker {
        root: r,
        units: UNITS_0_1,
        errors: Vec::new(),
    };
    if r["version"] != "0.1" {
        c.fail(format!("version: {} is not \"0.1\"", r["version"]));
    }
    c.required(&[
        "scenario.model.name",
        "scenario.load.name",
        "scenario.host.type",
        "scenario.host.accelerator",
        "scenario.platform.engine",
        "metrics.time.duration",
        "metrics.requests.total",
        "metrics.requests.input_length",
        "metrics.requests.output_length",
        "metrics.latency.time_to_first_token",
        "metrics.throughput.total_tokens_per_sec",
    ]);
    c.one_of("scenario.load.name", GENERATORS_0_1);
    let types = at(r, "scenario.host.type")
        .as_array()
        .cloned()
        .unwrap_or_default();
    for k in 0..types.len() {
        c.one_of(&format!("scenario.host.type.{k}"), HOST_TYPES);
    }
    let n = types.len();
    for list in [
        "scenario.host.accelerator",
        "scenario.platform.engine",
        "metrics.resources.accelerator",
    ] {
        if let Some(a) = at(r, list).as_array() {
            if a.len() != n {
                c.fail(format!("{list}: {} entries for {n} host types", a.len()));
            }
        }
    }
    for (k, a) in at(r, "scenario.host.accelerator")
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if !a["model"].is_string() || !a["count"].is_u64() {
            c.fail(format!(
                "scenario.host.accelerator.{k}: model and count are required"
            ));
        }
        for d in ["dp", "tp", "pp", "ep"] {
            if !a["parallelism"][d].is_u64() {
                c.fail(format!(
                    "scenario.host.accelerator.{k}.parallelism.{d}: missing"
                ));
            }
        }
    }
    for (k, e) in at(r, "scenario.platform.engine")
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if !e["name"].is_string() {
            c.fail(format!("scenario.platform.engine.{k}.name: required"));
        }
    }
    c.stat("metrics.requests.input_length", QUANTITY);
    c.stat("metrics.requests.output_length", QUANTITY);
    c.stat("metrics.latency.time_to_first_token", TIME);
    c.stat("metrics.latency.request_latency", TIME);
    for p in [
        "time_per_output_token",
        "normalized_time_per_output_token",
        "inter_token_latency",
    ] {
        c.stat(&format!("metrics.latency.{p}"), GEN_LATENCY);
    }
    for p in ["batch_size", "queue_size", "kv_cache_size"] {
        c.stat(&format!("metrics.service.{p}"), QUANTITY);
    }
    let accs = at(r, "metrics.resources.accelerator")
        .as_array()
        .map_or(0, Vec::len);
    for k in 0..accs {
        let p = format!("metrics.resources.accelerator.{k}");
        c.stat(&format!("{p}.memory.consumption"), MEMORY);
        c.stat(&format!("{p}.memory.utilization"), PORTION);
        c.stat(&format!("{p}.memory.bandwidth"), BANDWIDTH);
        c.stat(&format!("{p}.compute.utilization"), PORTION);
        c.stat(&format!("{p}.power"), POWER);
    }
    c.min("metrics.time.duration", 0.0);
    if c.errors.is_empty() {
        Ok(())
    } else {
        Err(c.errors)
    }
}

/// Report 0.2.1 (llm-d's `br_v0_2_1_json_schema.json` and `schema_v0_2_1.py`).
pub fn check_v0_2_1(r: &Value) -> Result<(), Vec<String>> {
    let mut c = Checker {
        root: r,
        units: UNITS_0_2_1,
        errors: Vec::new(),
    };
    // Structure: required fields present, no field the schema does not know.
    if let Err(e) = serde_json::from_value::<ReportV021>(r.clone()) {
        c.fail(format!("structure: {e}"));
    }
    if r["version"] != "0.2.1" {
        c.fail(format!("version: {} is not \"0.2.1\"", r["version"]));
    }
    c.required(&["run.uid", "results"]);
    let labels = v021_stack(&mut c);
    v021_load(&mut c);
    v021_performance(&mut c);
    v021_observability(&mut c, &labels);
    v021_times(&mut c);
    if c.errors.is_empty() {
        Ok(())
    } else {
        Err(c.errors)
    }
}

/// `scenario.stack`: each component's required fields, unique labels, an engine's role,
/// replicas and parallelism; returns the labels.
fn v021_stack(c: &mut Checker<'_>) -> Vec<String> {
    let r = c.root;
    let stack = at(r, "scenario.stack")
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut labels = Vec::new();
    for (k, _) in stack.iter().enumerate() {
        let p = format!("scenario.stack.{k}");
        for f in [
            "metadata.label",
            "metadata.cfg_id",
            "standardized.tool",
            "standardized.tool_version",
        ] {
            c.required(&[format!("{p}.{f}").as_str()]);
        }
        if let Some(l) = at(r, &format!("{p}.metadata.label")).as_str() {
            if labels.contains(&l.to_string()) {
                c.fail(format!("{p}.metadata.label: `{l}` is not unique"));
            }
            labels.push(l.to_string());
        }
        if at(r, &format!("{p}.standardized.kind")) == "inference_engine" {
            c.one_of(&format!("{p}.standardized.role"), HOST_TYPES);
            c.min(&format!("{p}.standardized.replicas"), 1.0);
            c.min(&format!("{p}.standardized.accelerator.count"), 0.0);
            for (d, min) in [("tp", 0.0), ("dp", 0.0), ("ep", 1.0), ("pp", 1.0)] {
                c.min(
                    &format!("{p}.standardized.accelerator.parallelism.{d}"),
                    min,
                );
            }
        } else {
            c.one_of(
                &format!("{p}.standardized.kind"),
                &["inference_engine", "generic"],
            );
        }
    }
    labels
}

/// `scenario.load.standardized`: source, parallelism, rate and the length distributions.
fn v021_load(c: &mut Checker<'_>) {
    let r = c.root;
    if !at(r, "scenario.load").is_null() {
        let l = "scenario.load.standardized";
        c.one_of(&format!("{l}.source"), &["random", "sampled", "unknown"]);
        c.min(&format!("{l}.parallelism"), 1.0);
        c.min(&format!("{l}.stage"), 0.0);
        if let Some(q) = at(r, &format!("{l}.rate_qps")).as_f64() {
            if q <= 0.0 {
                c.fail(format!("{l}.rate_qps: must be > 0"));
            }
        }
        c.min(&format!("{l}.concurrency"), 1.0);
        for s in [
            "input_seq_len",
            "output_seq_len",
            "prefix.prefix_len",
            "multi_turn.max_turns",
        ] {
            let p = format!("{l}.{s}");
            if !at(r, &p).is_null() {
                c.one_of(
                    &format!("{p}.distribution"),
                    &["fixed", "gaussian", "uniform", "other"],
                );
                c.min(&format!("{p}.value"), 0.0);
                c.min(&format!("{p}.std_dev"), 0.0);
                c.min(&format!("{p}.max"), 1.0);
            }
        }
        for s in ["num_groups", "num_users_per_group", "num_prefixes"] {
            c.min(&format!("{l}.prefix.{s}"), 1.0);
        }
    }
}

/// `results.request_performance` and `results.session_performance`: units of every statistic
/// and time series.
fn v021_performance(c: &mut Checker<'_>) {
    let a = "results.request_performance.aggregate";
    c.min(&format!("{a}.requests.total"), 0.0);
    c.stat(&format!("{a}.requests.input_length"), QUANTITY);
    c.stat(&format!("{a}.requests.output_length"), QUANTITY);
    let t = "results.request_performance.time_series";
    for (m, units) in [
        ("time_to_first_token", TIME),
        ("normalized_time_per_output_token", GEN_LATENCY),
        ("time_per_output_token", GEN_LATENCY),
        ("inter_token_latency", GEN_LATENCY),
        ("request_latency", TIME),
    ] {
        c.stat(&format!("{a}.latency.{m}"), units);
        c.series(&format!("{t}.latency.{m}"), units);
    }
    for (m, units) in [
        ("input_token_rate", GEN_THROUGHPUT),
        ("output_token_rate", GEN_THROUGHPUT),
        ("total_token_rate", GEN_THROUGHPUT),
        ("request_rate", REQUEST_THROUGHPUT),
    ] {
        c.stat(&format!("{a}.throughput.{m}"), units);
        c.series(&format!("{t}.throughput.{m}"), units);
    }
    let s = "results.session_performance.sessions";
    c.stat(&format!("{s}.session_rate"), REQUEST_THROUGHPUT);
    c.stat(&format!("{s}.session_duration"), TIME);
    for m in [
        "events_per_session",
        "events_cancelled_per_session",
        "input_tokens_per_session",
        "output_tokens_per_session",
    ] {
        c.stat(&format!("{s}.{m}"), QUANTITY);
    }
}

/// `results.observability` and `results.component_health`: components named in the stack,
/// units of their figures.
fn v021_observability(c: &mut Checker<'_>, labels: &[String]) {
    let r = c.root;
    let comps = at(r, "results.observability.components")
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (k, comp) in comps.iter().enumerate() {
        let p = format!("results.observability.components.{k}");
        match comp["component_label"].as_str() {
            Some(l) if labels.iter().any(|x| x == l) => {}
            l => c.fail(format!(
                "{p}.component_label: {l:?} names no stack component"
            )),
        }
        for (m, units) in [
            ("kv_cache_usage", PORTION),
            ("cache_hit_rate", PORTION),
            ("gpu_cache_usage", PORTION),
            ("cpu_cache_usage", PORTION),
            ("gpu_memory_usage", MEMORY),
            ("cpu_memory_usage", MEMORY),
            ("storage_usage", MEMORY),
            ("gpu_utilization", PORTION),
            ("cpu_utilization", PORTION),
            ("power_consumption", POWER),
            ("running_requests", QUANTITY),
            ("waiting_requests", QUANTITY),
            ("swapped_requests", QUANTITY),
            ("preemptions", QUANTITY),
        ] {
            c.stat(&format!("{p}.aggregate.{m}"), units);
        }
        for (m, units) in [
            ("kv_cache_usage", PORTION),
            ("gpu_memory_usage", MEMORY),
            ("cpu_memory_usage", MEMORY),
            ("gpu_utilization", PORTION),
            ("cpu_utilization", PORTION),
            ("power_consumption", POWER),
            ("num_requests_running", QUANTITY),
            ("num_requests_waiting", QUANTITY),
        ] {
            c.series(&format!("{p}.time_series.{m}"), units);
        }
    }
    for (k, h) in at(r, "results.component_health")
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        match h["component_label"].as_str() {
            Some(l) if labels.iter().any(|x| x == l) => {}
            l => c.fail(format!(
                "results.component_health.{k}.component_label: {l:?} names no stack component"
            )),
        }
    }
}

/// `run.time`: ISO-8601 instants and duration.
fn v021_times(c: &mut Checker<'_>) {
    let r = c.root;
    for p in ["run.time.start", "run.time.end"] {
        if let Some(s) = at(r, p).as_str() {
            if !is_iso8601(s) {
                c.fail(format!("{p}: `{s}` is not an ISO-8601 instant"));
            }
        }
    }
    if let Some(d) = at(r, "run.time.duration").as_str() {
        if !(d.starts_with("PT") && d.ends_with('S')) {
            c.fail(format!(
                "run.time.duration: `{d}` is not an ISO-8601 duration"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_name_what_is_wrong() {
        let bad = json!({"version": "0.2.1", "run": {"uid": "x"}, "results": {
            "request_performance": {"aggregate": {"latency": {
                "time_to_first_token": {"units": "ms/token", "mean": 1.0}}}}}});
        let e = check_v0_2_1(&bad).unwrap_err();
        assert!(
            e.iter().any(|m| m.contains("time_to_first_token.units")),
            "{e:?}"
        );
        let unknown = json!({"version": "0.2.1", "run": {"uid": "x", "colour": 1}, "results": {}});
        let e = check_v0_2_1(&unknown).unwrap_err();
        assert!(e.iter().any(|m| m.contains("colour")), "{e:?}");
        assert!(
            check_v0_2_1(&json!({"version": "0.2.1", "run": {"uid": "x"}, "results": {}})).is_ok()
        );
        let e = check_v0_1(&json!({"version": "0.1"})).unwrap_err();
        assert!(e.iter().any(|m| m.contains("scenario.model.name")), "{e:?}");
    }
}
