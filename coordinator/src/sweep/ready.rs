//! Deploying one point and waiting for it: the reconfigure command (`sh -c`, its output in the
//! point's `reconfigure.log`, killed at its timeout), then readiness — the endpoint's
//! `/health`, its `/v1/models` listing the profile's model, and the expected agents per role
//! joined — polled until all hold or the timeout passes. The endpoint is asked over the
//! agent's own HTTP client (`http://`, or `https://` with its rustls trust), so readiness
//! reaches whatever endpoint the agents can.

use super::error::SweepError;
use crate::hub::Hub;
use bytes::Bytes;
use fleetbench_agent::client::{EndpointClient, EndpointTrust, Timeouts};
use fleetbench_model::settings::{ApiType, HttpVersion};
use fleetbench_model::spec::EndpointSpec;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs `command` with `sh -c`, stdout and stderr into `log`; an error unless it exits 0 within
/// `timeout` (then it is killed).
pub(crate) async fn reconfigure(
    point: &str,
    command: &str,
    timeout: Duration,
    log: &Path,
    env: &[(&str, &str)],
) -> Result<(), SweepError> {
    let fail = |message: String| SweepError::Reconfigure {
        point: point.to_string(),
        message: format!(
            "{message} (command: {command}; output in {})",
            log.display()
        ),
    };
    let io = |source| SweepError::Io {
        path: log.to_path_buf(),
        source,
    };
    let out = std::fs::File::create(log).map_err(io)?;
    let err = out.try_clone().map_err(io)?;
    // Output goes to a file, never a pipe: what the command leaves running (the deployment's
    // processes) must not hold this process waiting for an end of file.
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| fail(format!("cannot start sh: {e}")))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(fail(format!("exited with {status}"))),
        Ok(Err(e)) => Err(fail(format!("cannot wait for it: {e}"))),
        Err(_) => {
            let _ = child.kill().await;
            Err(fail(format!("still running after {timeout:?}; killed")))
        }
    }
}

/// What readiness checks for one point.
#[derive(Debug, Clone)]
pub(crate) struct Readiness<'a> {
    pub base_url: &'a str,
    /// The roots an `https://` endpoint's certificate must chain to.
    pub trust: &'a EndpointTrust,
    pub model: Option<&'a str>,
    pub(crate) health: bool,
    pub(crate) models: bool,
    pub agents: &'a BTreeMap<String, u32>,
    pub timeout: Duration,
}

/// Polls until every check holds; the error names what did not, as last seen.
pub(crate) async fn wait_ready(
    point: &str,
    hub: &Arc<Hub>,
    r: &Readiness<'_>,
) -> Result<(), SweepError> {
    let started = Instant::now();
    loop {
        let reason = match check_once(hub, r).await {
            Ok(()) => return Ok(()),
            Err(reason) => reason,
        };
        if hub.stop_requested() {
            return Err(SweepError::Stopped);
        }
        if started.elapsed() >= r.timeout {
            return Err(SweepError::NotReady {
                point: point.to_string(),
                waited: r.timeout,
                reason,
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn check_once(hub: &Arc<Hub>, r: &Readiness<'_>) -> Result<(), String> {
    let members = hub.fleet.members();
    for (role, want) in r.agents {
        let have = members.iter().filter(|m| m.role.as_str() == role).count();
        if have != *want as usize {
            return Err(format!("{have} {role} agents joined, expecting {want}"));
        }
    }
    if r.health {
        get(r.base_url, "/health", r.trust).await?;
    }
    if r.models {
        let body = get(r.base_url, "/v1/models", r.trust).await?;
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| format!("{}/v1/models: not JSON ({e})", r.base_url))?;
        let ids: Vec<&str> = v
            .get("data")
            .and_then(|d| d.as_array())
            .map(|a| a.iter().filter_map(|m| m.get("id")?.as_str()).collect())
            .unwrap_or_default();
        match r.model {
            Some(m) if !ids.contains(&m) => {
                return Err(format!(
                    "{}/v1/models does not list {m:?} (lists {ids:?})",
                    r.base_url
                ))
            }
            None if ids.is_empty() => {
                return Err(format!("{}/v1/models lists no model", r.base_url))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The largest response body readiness reads.
const MAX_BODY: usize = 1 << 20;

/// How long one readiness request may take.
const REQUEST_LIMIT: Duration = Duration::from_secs(5);

/// `GET base_url + path` (`http://` or `https://`, HTTP/1.1 or, by ALPN, HTTP/2) within 5 s;
/// the body of a 2xx answer, else what went wrong, naming the URL.
async fn get(base_url: &str, path: &str, trust: &EndpointTrust) -> Result<Bytes, String> {
    let base = base_url.trim_end_matches('/');
    let url = format!("{base}{path}");
    let spec = EndpointSpec {
        base_url: base.to_string(),
        model: String::new(),
        api: ApiType::Completion,
        streaming: false,
        ignore_eos: false,
        api_key: None,
        headers: Default::default(),
        response_format: None,
        http_version: HttpVersion::Auto,
        // Readiness presents no client certificate (an endpoint asking for one: ready.health
        // and ready.models off).
        client_cert: None,
        session_id_header: None,
        request_retries: 0,
        retry_backoff_s: 0.0,
        session_token_header: None,
    };
    let request = async {
        let client = EndpointClient::new(&spec, Timeouts::with_total(REQUEST_LIMIT), trust)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let (status, body) =
            (client.get(path, MAX_BODY, REQUEST_LIMIT).await).map_err(|e| format!("{url}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{url}: HTTP {status}"));
        }
        Ok(body)
    };
    tokio::time::timeout(REQUEST_LIMIT, request)
        .await
        .map_err(|_| format!("{url}: no answer within 5 s"))?
}
