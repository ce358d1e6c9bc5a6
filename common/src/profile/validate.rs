//! Checks that a parsed profile describes something fleetbench can run, with errors that name
//! the key and what is allowed.

use super::{DataType, Profile, ProfileError};
use serde_norway::Value;
use std::path::Path;

pub(super) fn validate(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let invalid = |key: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: key.to_string(),
        message,
    };
    let unsupported: [(&str, &Option<Value>); 13] = [
        ("api.slo_unit", &p.api.slo_unit),
        ("api.slo_tpot_header", &p.api.slo_tpot_header),
        ("api.slo_ttft_header", &p.api.slo_ttft_header),
        ("data.shared_prefix", &p.data.shared_prefix),
        ("data.multimodal", &p.data.multimodal),
        ("data.use_chat_template", &p.data.use_chat_template),
        ("data.otel_trace_replay", &p.data.otel_trace_replay),
        ("load.sweep", &p.load.sweep),
        ("load.lora_traffic_split", &p.load.lora_traffic_split),
        ("load.request_retries", &p.load.request_retries),
        ("server.cert_path", &p.server.cert_path),
        ("server.key_path", &p.server.key_path),
        ("fleet.hosts", &p.fleet.hosts),
    ];
    let storage = p.storage.as_ref();
    let storage_unsupported = [
        (
            "storage.google_cloud_storage",
            storage.and_then(|s| s.google_cloud_storage.as_ref()),
        ),
        (
            "storage.simple_storage_service",
            storage.and_then(|s| s.simple_storage_service.as_ref()),
        ),
    ];
    let named = unsupported
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| *k)
        .chain(
            storage_unsupported
                .iter()
                .filter(|(_, v)| v.is_some())
                .map(|(k, _)| *k),
        )
        .next();
    if let Some(key) = named {
        return Err(ProfileError::NotSupported {
            file: file.to_path_buf(),
            key: key.to_string(),
        });
    }

    for (key, set) in [
        ("load.num_workers", p.load.num_workers.is_some()),
        (
            "load.worker_max_concurrency",
            p.load.worker_max_concurrency.is_some(),
        ),
        (
            "load.worker_max_tcp_connections",
            p.load.worker_max_tcp_connections.is_some(),
        ),
        ("load.interval", p.load.interval.is_some()),
    ] {
        if set {
            tracing::info!(
                "{}: `{key}` tunes inference-perf's Python workers; fleetbench agents ignore it",
                file.display()
            );
        }
    }

    match p.data.kind {
        DataType::Random | DataType::Synthetic => {
            for (key, d) in [
                ("data.input_distribution", &p.data.input_distribution),
                ("data.output_distribution", &p.data.output_distribution),
            ] {
                let d = d.as_ref().ok_or_else(|| {
                    invalid(
                        key,
                        "required for data type random: {min, max, mean, std_dev, total_count}"
                            .into(),
                    )
                })?;
                if !(d.mean.is_finite() && d.mean >= 1.0) {
                    return Err(invalid(
                        &format!("{key}.mean"),
                        format!("must be a number ≥ 1 (tokens), got {}", d.mean),
                    ));
                }
                if !(d.std_dev.is_finite() && d.std_dev >= 0.0) {
                    return Err(invalid(
                        &format!("{key}.std_dev"),
                        format!("must be a number ≥ 0, got {}", d.std_dev),
                    ));
                }
                if let (Some(lo), Some(hi)) = (d.min, d.max) {
                    if lo > hi {
                        return Err(invalid(
                            &format!("{key}.min"),
                            format!("min {lo} is above max {hi}"),
                        ));
                    }
                }
                if d.max == Some(0) {
                    return Err(invalid(&format!("{key}.max"), "must be ≥ 1".into()));
                }
            }
        }
        other => {
            return Err(invalid(
                "data.type",
                format!("{other:?} is not supported yet; allowed: random, synthetic"),
            ))
        }
    }

    crate::plan::stage_defs(p, file)?;
    for (key, v) in [
        ("load.request_timeout", p.load.request_timeout),
        ("load.grace_period", p.load.grace_period),
        ("fleet.snapshot_interval", p.fleet.snapshot_interval),
    ] {
        if let Some(v) = v {
            if !(v.is_finite() && v > 0.0) {
                return Err(invalid(
                    key,
                    format!("must be a number of seconds > 0, got {v}"),
                ));
            }
        }
    }
    if !(p.server.base_url.starts_with("http://") || p.server.base_url.starts_with("https://")) {
        return Err(invalid(
            "server.base_url",
            format!(
                "must start with http:// or https://, got {:?}",
                p.server.base_url
            ),
        ));
    }
    if p.server.base_url.starts_with("https://") {
        return Err(invalid(
            "server.base_url",
            "https endpoints are not supported yet; use http://".into(),
        ));
    }
    for role in p.fleet.weights.keys() {
        if role.is_empty() {
            return Err(invalid(
                "fleet.weights",
                "a weight needs a role or agent name".into(),
            ));
        }
    }
    Ok(())
}
