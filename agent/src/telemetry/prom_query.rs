//! The engines' series from a Prometheus query API (`metrics.prometheus.google_managed`:
//! Google Cloud Managed Service for Prometheus, which has no `/federate`): one instant query of
//! the selector the plan made, its vector written back as exposition text, so that the engine
//! tables read it as they read an engine's own `/metrics`.

use super::engine;
use fleetbench_model::spec::PromQuery;
use fleetbench_proto::v1 as wire;
use serde::Deserialize;
use std::fmt::Write;
use std::time::Duration;

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    kind: String,
    #[serde(default)]
    result: Vec<Series>,
}

#[derive(Deserialize)]
struct Series {
    metric: std::collections::BTreeMap<String, String>,
    /// `[unix seconds, "value"]`.
    value: (f64, String),
}

/// The URL a query sends (the selector percent-encoded); no secret in it.
pub(crate) fn query_url(q: &PromQuery) -> String {
    format!(
        "{}/api/v1/query?query={}",
        q.base_url.trim_end_matches('/'),
        fleetbench_model::percent::percent_encode(&q.selector)
    )
}

/// One sample of the engines from `q`'s API, within `timeout` (none when the query failed or
/// answered no vector; a query's failure is warned about once per reason).
pub(crate) async fn sample(q: &PromQuery, timeout: Duration) -> Option<wire::EngineSample> {
    let url = query_url(q);
    let bearer = q.bearer.as_deref().map(|t| format!("Bearer {t}"));
    let body = engine::fetch_with(&url, bearer.as_deref(), timeout).await?;
    match exposition_of(&body) {
        Ok(text) => Some(engine::map_metrics(&q.base_url, &text)),
        Err(why) => {
            engine::warn_once(&q.base_url, &format!("{}: {why}", q.base_url));
            None
        }
    }
}

/// The instant vector of a query answer as Prometheus exposition lines (`name{k="v"} value`).
pub(crate) fn exposition_of(body: &str) -> Result<String, String> {
    let a: Answer =
        serde_json::from_str(body).map_err(|e| format!("not a Prometheus API answer: {e}"))?;
    if a.status != "success" {
        return Err(format!(
            "the query failed: {}",
            a.error.unwrap_or_else(|| a.status.clone())
        ));
    }
    let data = a.data.ok_or("the answer has no data")?;
    if data.kind != "vector" {
        return Err(format!("a {} answer, not a vector", data.kind));
    }
    let mut out = String::new();
    for s in data.result {
        let Some(name) = s.metric.get("__name__") else {
            continue;
        };
        let labels: Vec<String> = (s.metric.iter())
            .filter(|(k, _)| *k != "__name__")
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        let _ = writeln!(out, "{name}{{{}}} {}", labels.join(","), s.value.1);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vector_answer_reads_as_an_engine_page() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"vllm:num_requests_running","pod":"a","project_id":"p"},"value":[1700000000.1,"3"]},
            {"metric":{"__name__":"vllm:num_requests_running","pod":"b"},"value":[1700000000.1,"4"]},
            {"metric":{"__name__":"vllm:num_requests_waiting","pod":"a"},"value":[1700000000.1,"2"]},
            {"metric":{"__name__":"vllm:kv_cache_usage_perc","pod":"a","note":"say \"hi\""},"value":[1700000000.1,"0.5"]}
        ]}}"#;
        let text = exposition_of(body).unwrap();
        let s = engine::map_metrics("gmp", &text);
        assert_eq!(s.family, "vllm");
        assert_eq!((s.running, s.waiting, s.kv_cache_usage), (7.0, 2.0, 0.5));
        let err =
            exposition_of(r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#)
                .unwrap_err();
        assert!(err.contains("parse error"), "{err}");
        assert!(exposition_of("<html>").is_err());
        let q = PromQuery {
            base_url: "https://m/v1/projects/p/location/global/prometheus/".into(),
            selector: "{__name__=~\"vllm:.*\"}".into(),
            bearer: Some("secret".into()),
        };
        let url = query_url(&q);
        assert_eq!(
            url,
            "https://m/v1/projects/p/location/global/prometheus/api/v1/query?query=%7B__name__%3D~%22vllm%3A.%2A%22%7D"
        );
        assert!(!url.contains("secret"));
    }
}
