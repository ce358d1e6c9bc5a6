//! HTTPS and HTTP/2 to the endpoint, against the sim serving TLS (`--tls-cert/--tls-key`, a CA
//! from `coordinator certs`) and h2c: a closed loop over HTTPS with HTTP/1.1, constant-rate and
//! closed-loop runs over HTTP/2 chosen by ALPN and over h2c by prior knowledge; every request's
//! output tokens equal the sim's ground truth, and HTTP/2 carries a stage on one connection per
//! agent. An endpoint whose certificate the agent's CA did not sign stops the run at the
//! preflight with the TLS error named.

use fleetbench_e2e::security::{arg, log, make_certs};
use fleetbench_e2e::*;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A deterministic sim with a ground-truth log, serving TLS with `certs/server.pem` when
/// `tls`; returns it, its address and the ground-truth file.
fn sim(dir: &Path, certs: Option<&Path>) -> anyhow::Result<(Proc, String, PathBuf)> {
    sim_with(dir, certs, &[])
}

fn sim_with(
    dir: &Path,
    certs: Option<&Path>,
    extra: &[String],
) -> anyhow::Result<(Proc, String, PathBuf)> {
    let truth = dir.join("truth.jsonl");
    let mut flags = vec![
        "--deterministic".to_string(),
        "--ttft-ms".into(),
        "3".into(),
        "--itl-ms".into(),
        "1".into(),
        "--ground-truth".into(),
        arg(&truth),
    ];
    if let Some(c) = certs {
        flags.extend([
            "--tls-cert".into(),
            arg(&c.join("server.pem")),
            "--tls-key".into(),
            arg(&c.join("server.key")),
        ]);
    }
    flags.extend(extra.iter().cloned());
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (p, addr) = start_sim(dir, "sim", &flags)?;
    Ok((p, addr, truth))
}

/// A streamed-completions profile against `base_url` with `api.http_version` and `load`.
fn profile(dir: &Path, base_url: &str, http_version: &str, load: &str) -> PathBuf {
    let path = dir.join("profile.yaml");
    let text = format!(
        "name: e2e\n\
         server: {{type: vllm, model_name: sim-model, base_url: '{base_url}', ignore_eos: true}}\n\
         api: {{type: completion, streaming: true, http_version: {http_version}}}\n\
         data: {{type: random,\n\
                 input_distribution: {{min: 12, max: 12, mean: 12, std_dev: 0}},\n\
                 output_distribution: {{min: 4, max: 24, mean: 12, std_dev: 0}}}}\n\
         {load}\n\
         report: {{request_lifecycle: {{per_request: true}}}}\n"
    );
    std::fs::write(&path, text).expect("write the profile");
    path
}

/// Runs `profile` with two agents (extra agent flags), checks that every request succeeded and
/// that each one's output tokens are the sim's; returns the stage report.
fn run_and_check(
    dir: &Path,
    profile: &Path,
    truth: &Path,
    agent_flags: &[&str],
    expect: usize,
) -> anyhow::Result<Value> {
    let (run, _) =
        run_with_two_agents_flags(dir, profile, Duration::from_secs(90), &[], agent_flags)?;
    let r = stage_report(&run, 0)?;
    assert_eq!(num(&r, "metrics.requests.total"), expect as f64);
    assert_eq!(
        num(&r, "metrics.requests.failures"),
        0.0,
        "{}",
        at(&r, "metrics.metadata.failures_by_class")
    );
    std::thread::sleep(Duration::from_millis(200));
    let served: HashMap<String, u64> = json_lines(truth)?
        .iter()
        .map(|v| {
            (
                v["request_id"].as_str().unwrap_or_default().to_string(),
                v["completion_tokens"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect();
    let records = json_lines(&run.join("requests.jsonl"))?;
    assert_eq!(records.len(), expect);
    for rec in &records {
        let id = rec["id"].as_str().unwrap_or_default();
        assert_eq!(
            rec["output_tokens"].as_u64(),
            served.get(id).copied(),
            "request {id}: the agent's output tokens against the sim's"
        );
    }
    Ok(r)
}

#[test]
fn https_with_http11_closed_loop_matches_the_sim() -> anyhow::Result<()> {
    let dir = scratch("https_http11_closed");
    let certs = make_certs(&dir, "certs", &[], &[])?;
    let (_sim, addr, truth) = sim(&dir, Some(&certs))?;
    let p = profile(
        &dir,
        &format!("https://{addr}"),
        "'1.1'",
        "load: {type: concurrent, stages: [{concurrency_level: 4, num_requests: 40}]}",
    );
    let ca = arg(&certs.join("ca.pem"));
    let r = run_and_check(&dir, &p, &truth, &["--endpoint-ca", &ca], 40)?;
    let c = at(&r, "metrics.metadata.connections");
    // HTTP/1.1: a connection per user, each reused for the user's next requests.
    assert!(num(c, "opened") >= 4.0, "{c}");
    assert!(num(c, "reused") >= 30.0, "{c}");
    Ok(())
}

#[test]
fn https_with_h2_by_alpn_at_a_constant_rate_matches_the_sim() -> anyhow::Result<()> {
    let dir = scratch("https_h2_constant");
    let certs = make_certs(&dir, "certs", &[], &[])?;
    let (_sim, addr, truth) = sim(&dir, Some(&certs))?;
    let p = profile(
        &dir,
        &format!("https://{addr}"),
        "auto",
        "load: {type: constant, stages: [{rate: 20, duration: 2}]}",
    );
    let ca = arg(&certs.join("ca.pem"));
    let r = run_and_check(&dir, &p, &truth, &["--endpoint-ca", &ca], 40)?;
    let c = at(&r, "metrics.metadata.connections");
    // HTTP/2 (the sim picks `h2` by ALPN): one connection per agent carries every request.
    assert_eq!(num(c, "opened"), 2.0, "{c}");
    assert_eq!(num(c, "retries"), 0.0, "{c}");
    Ok(())
}

#[test]
fn h2c_by_prior_knowledge_closed_loop_matches_the_sim() -> anyhow::Result<()> {
    let dir = scratch("h2c_closed");
    let (_sim, addr, truth) = sim(&dir, None)?;
    let p = profile(
        &dir,
        &format!("http://{addr}"),
        "2",
        "load: {type: concurrent, stages: [{concurrency_level: 6, num_requests: 60}]}",
    );
    let r = run_and_check(&dir, &p, &truth, &[], 60)?;
    let c = at(&r, "metrics.metadata.connections");
    // Three users per agent share one HTTP/2 connection.
    assert_eq!(num(c, "opened"), 2.0, "{c}");
    Ok(())
}

#[test]
fn a_certificate_from_another_ca_fails_the_preflight_naming_the_tls_error() -> anyhow::Result<()> {
    let dir = scratch("https_wrong_ca");
    let certs = make_certs(&dir, "certs", &[], &[])?;
    let other = make_certs(&dir, "other", &[], &[])?;
    let (_sim, addr, truth) = sim(&dir, Some(&certs))?;
    let p = profile(
        &dir,
        &format!("https://{addr}"),
        "auto",
        "load: {type: constant, stages: [{rate: 5, duration: 1}]}",
    );
    let (mut coord, caddr) = start_coordinator_run(&dir, &p, 2, &[])?;
    let ca = arg(&other.join("ca.pem"));
    let _a = start_agent(&dir, &caddr, "agent-a", "client", &["--endpoint-ca", &ca])?;
    let _b = start_agent(&dir, &caddr, "agent-b", "client", &["--endpoint-ca", &ca])?;
    let status = coord.wait(Duration::from_secs(60))?;
    assert_eq!(status.code(), Some(1), "{}", log(&dir, "coordinator"));
    let text = log(&dir, "coordinator");
    assert!(
        text.contains("endpoint preflight failed")
            && text.contains("TLS handshake with")
            && text.contains("invalid peer certificate"),
        "the TLS error is named: {text}"
    );
    // (Both CAs of `coordinator certs` carry the same name: rustls reports `BadSignature`; an
    // unrelated CA gives `UnknownIssuer`.) Nothing reached the endpoint's HTTP layer.
    assert!(json_lines(&truth).unwrap_or_default().is_empty());
    Ok(())
}

/// An endpoint that asks for client certificates (mutual TLS, `sim --tls-client-ca`): with the
/// profile's `server.cert_path`/`key_path` (inference-perf's keys; files on each agent's host)
/// every request succeeds and matches the sim; without them the preflight stops the run, naming
/// the TLS failure; a missing key file is named with the agent's host.
#[test]
fn a_client_certificate_from_the_profile_passes_mutual_tls() -> anyhow::Result<()> {
    let dir = scratch("https_mutual_tls");
    let certs = make_certs(&dir, "certs", &[], &["bench"])?;
    let (_sim, addr, truth) = sim_with(
        &dir,
        Some(&certs),
        &["--tls-client-ca".into(), arg(&certs.join("ca.pem"))],
    )?;
    let ca = arg(&certs.join("ca.pem"));
    let with_cert = |dir: &Path, key: &Path| {
        let p = profile(
            dir,
            &format!("https://{addr}"),
            "auto",
            "load: {type: concurrent, stages: [{concurrency_level: 2, num_requests: 12}]}",
        );
        let text = std::fs::read_to_string(&p).expect("profile").replace(
            "ignore_eos: true}",
            &format!(
                "ignore_eos: true, cert_path: '{}', key_path: '{}'}}",
                arg(&certs.join("client-bench.pem")),
                arg(key)
            ),
        );
        std::fs::write(&p, text).expect("profile");
        p
    };
    let p = with_cert(&dir, &certs.join("client-bench.key"));
    run_and_check(&dir, &p, &truth, &["--endpoint-ca", &ca], 12)?;

    // Without the certificate: the handshake fails and the preflight says so.
    let bare = dir.join("bare");
    std::fs::create_dir_all(&bare)?;
    let p = profile(
        &bare,
        &format!("https://{addr}"),
        "auto",
        "load: {type: constant, stages: [{rate: 5, duration: 1}]}",
    );
    let (mut coord, caddr) = start_coordinator_run(&bare, &p, 2, &[])?;
    let _a = start_agent(&bare, &caddr, "agent-a", "client", &["--endpoint-ca", &ca])?;
    let _b = start_agent(&bare, &caddr, "agent-b", "client", &["--endpoint-ca", &ca])?;
    assert_eq!(coord.wait(Duration::from_secs(60))?.code(), Some(1));
    let text = log(&bare, "coordinator");
    assert!(
        text.contains("endpoint preflight failed"),
        "no client certificate: the preflight fails: {text}"
    );

    // A key file missing on the agents' host is named.
    let missing = dir.join("missing");
    std::fs::create_dir_all(&missing)?;
    let p = with_cert(&missing, &missing.join("nowhere.key"));
    let (mut coord, caddr) = start_coordinator_run(&missing, &p, 2, &[])?;
    let _a = start_agent(
        &missing,
        &caddr,
        "agent-a",
        "client",
        &["--endpoint-ca", &ca],
    )?;
    let _b = start_agent(
        &missing,
        &caddr,
        "agent-b",
        "client",
        &["--endpoint-ca", &ca],
    )?;
    assert_eq!(coord.wait(Duration::from_secs(60))?.code(), Some(1));
    let text = log(&missing, "coordinator");
    assert!(
        text.contains("server.key_path") && text.contains("nowhere.key"),
        "the missing key file is named: {text}"
    );
    Ok(())
}
