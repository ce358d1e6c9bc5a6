//! Shard specs for the agent's unit tests, written out field by field as the coordinator's plan
//! gives them for a one-agent, one-stage run (the agent does not link the profile crate).

use fleetbench_model::data::DataSource;
use fleetbench_model::settings::{ApiType, HttpVersion};
use fleetbench_model::spec::{EndpointSpec, ShardLoad, ShardSpec, Window};
use std::collections::BTreeMap;

/// Shard 0 of 1 of stage 0 against `http://127.0.0.1:1`, model `m`, streaming.
pub(crate) fn shard_spec(api: ApiType, data: DataSource, load: ShardLoad) -> ShardSpec {
    ShardSpec {
        run_id: "r".into(),
        stage: 0,
        stage_label: "t".into(),
        shard: 0,
        shards: 1,
        endpoint: EndpointSpec {
            base_url: "http://127.0.0.1:1".into(),
            model: "m".into(),
            api,
            streaming: true,
            ignore_eos: false,
            api_key: None,
            headers: BTreeMap::new(),
            response_format: None,
            http_version: HttpVersion::Auto,
            client_cert: None,
            session_id_header: None,
            request_retries: 0,
            retry_backoff_s: 0.5,
            session_token_header: None,
        },
        data: data.into(),
        load,
        window: Window {
            start_s: 0.0,
            end_s: None,
        },
        snapshot_interval_ms: 1000,
        request_timeout_ms: 600_000,
        grace_period_ms: 30_000,
        seed: 1,
        per_request: false,
        think_time_ms: 0,
        telemetry: Default::default(),
        engine_metrics: Vec::new(),
        prometheus_query: None,
        first_byte_timeout_ms: None,
        idle_timeout_ms: None,
        warmup_connections: 0,
        goodput: None,
        circuit_breakers: Vec::new(),
    }
}

/// One request at 1/s: the load of `{type: constant, stages: [{rate: 1, duration: 1}]}`.
pub(crate) fn one_request() -> ShardLoad {
    ShardLoad::Constant {
        rate: 1.0,
        ramp_to: None,
        duration_s: Some(1.0),
        total: 1,
        weights: vec![1],
    }
}
