//! inference-perf keys beyond the stages and the data: what fleetbench maps them onto
//! (`metrics.prometheus`, `api.response_format`, `api.session_id_header_key`, `load.trace`,
//! `circuit_breakers`, the `api.slo_*` headers), checked.

use crate::error::ProfileError;
use crate::model::{DataType, LoadType, Profile};
use fleetbench_model::breaker::Trigger;
use fleetbench_model::percent::percent_encode;
use std::path::Path;

/// `load.request_retry_backoff_sec` when not given (inference-perf's).
pub const DEFAULT_RETRY_BACKOFF_S: f64 = 0.5;

/// The most retries a request may get, and the longest base backoff: a request's attempts and
/// waits stay bounded.
const MAX_REQUEST_RETRIES: u32 = 100;
const MAX_RETRY_BACKOFF_S: f64 = 3600.0;

/// The keys fleetbench maps onto its own machinery, checked.
pub(super) fn validate_sections(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let invalid = |key: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: key.to_string(),
        message,
    };
    if let Some(rf) = &p.api.response_format {
        if rf.kind == crate::model::ResponseFormatType::JsonSchema && rf.json_schema.is_none() {
            return Err(invalid(
                "api.response_format.json_schema",
                "required for type json_schema: the JSON schema the output must follow (or type json_object)".into(),
            ));
        }
    }
    if p.load.trace.is_some() && p.load.kind != LoadType::Trace {
        return Err(invalid(
            "load.trace",
            "is only read by load type trace_replay".into(),
        ));
    }
    if p.data.trace.is_some() && !matches!(p.data.kind, DataType::Random | DataType::Synthetic) {
        return Err(invalid(
            "data.trace",
            "is only read by data types random and synthetic".into(),
        ));
    }
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    for (name, key) in [
        ("api.session_id_header_key", &p.api.session_id_header_key),
        (
            "api.session_token_header_key",
            &p.api.session_token_header_key,
        ),
    ] {
        if let Some(key) = key
            .as_ref()
            .filter(|k| k.is_empty() || !k.chars().all(tchar))
        {
            return Err(invalid(
                name,
                format!("{key:?}: an HTTP header name (letters, digits, - and the other token characters)"),
            ));
        }
    }
    p.api
        .header_slos()
        .map_err(|(key, message)| invalid(&key, message))?;
    if p.load
        .request_retries
        .is_some_and(|n| n > MAX_REQUEST_RETRIES)
    {
        return Err(invalid(
            "load.request_retries",
            format!("at most {MAX_REQUEST_RETRIES} retries of a request"),
        ));
    }
    if let Some(b) = p.load.request_retry_backoff_sec {
        if !(b.is_finite() && (0.0..=MAX_RETRY_BACKOFF_S).contains(&b)) {
            return Err(invalid(
                "load.request_retry_backoff_sec",
                format!("{b}: seconds from 0 to {MAX_RETRY_BACKOFF_S}"),
            ));
        }
    }
    validate_metrics(p, file)?;
    validate_breakers(p, file)
}

/// `metrics`: `type: default` (none), or `type: prometheus` with `prometheus.url`, which the
/// first agent scrapes through the server's `/federate` endpoint (see [`federate_url`]), or
/// with `prometheus.google_managed`, whose query API the first agent reads (see
/// [`managed_prometheus_query`]).
fn validate_metrics(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let invalid = |key: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: key.to_string(),
        message,
    };
    let Some(m) = &p.metrics else {
        return Ok(());
    };
    match m.kind.as_str() {
        "default" => Ok(()),
        "prometheus" => {
            let prom = m.prometheus.as_ref().ok_or_else(|| {
                invalid(
                    "metrics.prometheus",
                    "required for type prometheus: {url, scrape_interval, filters}".into(),
                )
            })?;
            match (prom.google_managed, prom.url.as_deref()) {
                (true, Some(_)) | (false, None) => {
                    return Err(invalid(
                        "metrics.prometheus",
                        "exactly one of url and google_managed must be set (inference-perf's rule)"
                            .into(),
                    ))
                }
                (true, None) => {}
                (false, Some(url)) => {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(invalid(
                            "metrics.prometheus.url",
                            format!("the Prometheus server, http(s)://HOST:PORT, got {url:?}"),
                        ));
                    }
                }
            }
            for (i, f) in prom.filters.iter().enumerate() {
                if !f.contains('=') || f.contains('}') || f.contains('{') {
                    return Err(invalid(
                        &format!("metrics.prometheus.filters.{i}"),
                        format!(
                            "a PromQL label matcher (label=\"value\", label=~\"re\"), got {f:?}"
                        ),
                    ));
                }
            }
            Ok(())
        }
        other => Err(invalid(
            "metrics.type",
            format!("{other:?}: allowed: prometheus, default"),
        )),
    }
}

/// Prometheus series names the engines' tables read (see the agent's engine scrape).
const ENGINE_NAME_RE: &str = "vllm:.*|sglang:.*|tgi_.*|llamacpp:.*|nv_.*|dynamo_.*";

/// The `/federate` URL of a Prometheus server that returns the engines' latest series, selected
/// by the profile's label `filters`: an exposition page that the agent's engine scrape reads
/// like an engine's own `/metrics`, summing each name over the matching series.
pub(crate) fn federate_url(base: &str, filters: &[String]) -> String {
    format!(
        "{}/federate?match%5B%5D={}",
        base.trim_end_matches('/'),
        percent_encode(&engine_selector(filters))
    )
}

/// The PromQL selector of the engines' series, narrowed by the profile's label `filters`.
fn engine_selector(filters: &[String]) -> String {
    let mut selector = format!("{{__name__=~\"{ENGINE_NAME_RE}\"");
    for f in filters {
        selector.push(',');
        selector.push_str(f);
    }
    selector.push('}');
    selector
}

/// `metrics.prometheus.google_managed`: the query the first agent sends to Google Cloud
/// Managed Service for Prometheus (it has no `/federate`); the coordinator fills the project's
/// URL and a token when each stage starts.
pub(crate) fn managed_prometheus_query(p: &Profile) -> Option<fleetbench_model::spec::PromQuery> {
    let prom = p.metrics.as_ref()?.prometheus.as_ref()?;
    (p.metrics.as_ref()?.kind == "prometheus" && prom.google_managed).then(|| {
        fleetbench_model::spec::PromQuery {
            base_url: String::new(),
            selector: engine_selector(&prom.filters),
            bearer: None,
        }
    })
}

/// Every breaker named in `load.circuit_breakers` is defined; triggers are sane.
fn validate_breakers(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let invalid = |key: String, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key,
        message,
    };
    let defined = p.circuit_breakers.as_deref().unwrap_or_default();
    for (i, b) in defined.iter().enumerate() {
        if b.metrics.matches.is_empty() {
            return Err(invalid(
                format!("circuit_breakers.{i}.metrics.matches"),
                "give at least one expression selecting the requests to watch".into(),
            ));
        }
        if let Err((entry, message)) = b.metrics.parse() {
            return Err(invalid(
                format!("circuit_breakers.{i}.metrics.{entry}"),
                message,
            ));
        }
        for (j, t) in b.triggers.iter().enumerate() {
            let key = format!("circuit_breakers.{i}.triggers.{j}");
            match *t {
                Trigger::Consecutive { threshold: 0 } => {
                    return Err(invalid(key, "threshold must be ≥ 1".into()))
                }
                Trigger::RateOverWindow {
                    window_sec,
                    threshold,
                    ..
                } if !(window_sec.is_finite()
                    && window_sec > 0.0
                    && (0.0..=1.0).contains(&threshold)) =>
                {
                    return Err(invalid(
                        key,
                        format!("window_sec must be > 0 and threshold from 0 to 1, got {window_sec} and {threshold}"),
                    ))
                }
                _ => {}
            }
        }
    }
    for (i, name) in p.load.circuit_breakers.iter().flatten().enumerate() {
        if !defined.iter().any(|b| &b.name == name) {
            let names: Vec<&str> = defined.iter().map(|b| b.name.as_str()).collect();
            return Err(invalid(
                format!("load.circuit_breakers.{i}"),
                format!(
                    "no circuit breaker named {name:?}; defined: [{}]",
                    names.join(", ")
                ),
            ));
        }
    }
    Ok(())
}
