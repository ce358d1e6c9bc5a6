//! The endpoint preflight: before a run's first stage the coordinator asks every load-generating
//! agent for one test request (as `vllm bench serve` sends one before its benchmark). The agent
//! sends request 0 of its shard of stage 0 with at most [`PREFLIGHT_MAX_TOKENS`] output tokens
//! and the id `preflight-<shard>` (the sim's ground truth tells it from the load), and answers
//! with the outcome: the failure class, the HTTP status and the start of the error body, so a
//! wrong model name or URL stops the run before any load is sent, with the server's own words.

use crate::client::{EndpointClient, EndpointTrust};
use crate::request::{Failure, RequestData};
use crate::stage::Outbound;
use bytes::Bytes;
use fleetbench_model::spec::ShardSpec;
use fleetbench_proto::v1 as wire;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Output tokens of the test request at most: it checks the endpoint, it does not load it.
pub(crate) const PREFLIGHT_MAX_TOKENS: u32 = 8;

/// The longest the test request may take.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends the test request `p` asks for and its result towards the coordinator.
pub(crate) async fn answer(
    p: wire::Preflight,
    trust: EndpointTrust,
    out: mpsc::UnboundedSender<Outbound>,
) {
    let result = run(&p, &trust).await;
    if !result.ok {
        tracing::warn!(
            "preflight of run {} failed: {} {}{}",
            p.run_id,
            result.failure_class,
            result.error,
            result.body
        );
    }
    let _ = out.send(Outbound::Preflight(result));
}

async fn run(p: &wire::Preflight, trust: &EndpointTrust) -> wire::PreflightResult {
    let mut result = wire::PreflightResult {
        run_id: p.run_id.clone(),
        id: p.id,
        ..Default::default()
    };
    let spec: ShardSpec = match serde_json::from_slice(&p.shard_spec_json) {
        Ok(s) => s,
        Err(e) => {
            result.error = format!("cannot read the shard spec: {e}");
            return result;
        }
    };
    if let Some(media) = &spec.data.stored_media {
        if let Err(why) = crate::media::check_held(&p.run_id, media) {
            result.error = why;
            return result;
        }
    }
    let timeout = Duration::from_millis(spec.request_timeout_ms).min(PREFLIGHT_TIMEOUT);
    let client = match EndpointClient::new(
        &spec.endpoint,
        crate::client::Timeouts::with_total(timeout),
        trust,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            result.error = e.to_string();
            return result;
        }
    };
    // A connection first, so that a refused connection or a failed TLS handshake is named
    // (e.g. `TLS handshake with ADDR: invalid peer certificate: UnknownIssuer`).
    let error = match tokio::time::timeout(timeout, client.check_connection()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!(
            "no connection to the endpoint within {:.0} s",
            timeout.as_secs_f64()
        )),
    };
    if let Some(error) = error {
        result.failure_class = Failure::Connect.class();
        result.error = error;
        return result;
    }
    let data = test_request(&spec);
    let sent = Instant::now();
    let rec = client.execute(&data, sent).await;
    result.latency_us = rec.t_end.saturating_duration_since(sent).as_micros() as u64;
    result.status = u32::from(rec.http_status);
    match &rec.outcome {
        Ok(()) => result.ok = true,
        Err(f) => {
            result.failure_class = f.class();
            result.body = rec.error_body.clone().unwrap_or_default();
        }
    }
    result
}

/// Request 0 of the shard's stage with its output capped at [`PREFLIGHT_MAX_TOKENS`].
pub(crate) fn test_request(spec: &ShardSpec) -> RequestData {
    let mut data = RequestData::build(spec, 0);
    data.id = format!("preflight-{}", spec.shard);
    let capped = data.max_tokens.clamp(1, PREFLIGHT_MAX_TOKENS);
    if let Ok(serde_json::Value::Object(mut body)) =
        serde_json::from_slice::<serde_json::Value>(&data.body)
    {
        body.insert("max_tokens".into(), capped.into());
        if let Ok(b) = serde_json::to_vec(&body) {
            data.body = Bytes::from(b);
            data.max_tokens = capped;
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_spec::{one_request, shard_spec};
    use fleetbench_model::data::{DataSource, LengthSpec};
    use fleetbench_model::settings::ApiType;
    use serde_json::Value;

    #[test]
    fn the_test_request_is_request_0_with_its_output_capped() {
        // `input_distribution: {mean: 10, std_dev: 0}, output_distribution: {type: fixed, mean: 100}`
        let data = DataSource::Synthetic {
            input: LengthSpec::fixed(10),
            output: LengthSpec::fixed(100),
        };
        let spec = &shard_spec(ApiType::Completion, data, one_request());
        let d = test_request(spec);
        assert_eq!(d.id, "preflight-0");
        assert_eq!(d.max_tokens, PREFLIGHT_MAX_TOKENS);
        let body: Value = serde_json::from_slice(&d.body).unwrap();
        let first: Value = serde_json::from_slice(&RequestData::build(spec, 0).body).unwrap();
        assert_eq!(body["max_tokens"], 8);
        assert_eq!(body["model"], "m");
        assert_eq!(body["prompt"], first["prompt"]);
        assert_eq!(first["max_tokens"], 100);
    }
}
