//! Issue 13, secrets: (d) a profile's `api_key` and a header filled from the environment reach
//! the engine (the sim refuses requests without them) but appear nowhere in the run directory
//! or any process's log or output; (e) a remotely submitted profile's `REPLACE_ENV_` is filled
//! from the submitter's environment, never from the coordinator's.

use anyhow::Result;
use fleetbench_e2e::security::*;
use fleetbench_e2e::*;
use std::path::Path;
use std::time::Duration;

const API_KEY: &str = "sk-TEST-SECRET";
const ENV_SECRET: &str = "env-secret-5f2c9a";

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// A profile against `sim` whose `extra_server` and `headers` go into `server` and `api`.
fn write(dir: &Path, sim: &str, extra_server: &str, headers: &str) -> std::path::PathBuf {
    // Outside the directories searched for the secrets: the author's own file holds them.
    let input = dir.join("input");
    std::fs::create_dir_all(&input).expect("create the input dir");
    let path = input.join("secret-profile.yaml");
    std::fs::write(
        &path,
        format!(
            "name: secrets\n\
             server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true{extra_server}}}\n\
             api: {{type: completion, streaming: true, headers: {{{headers}}}}}\n\
             data: {{type: random, input_distribution: {{min: 16, max: 16, mean: 16}}, output_distribution: {{min: 8, max: 8, mean: 8}}}}\n\
             load: {{type: constant, stages: [{{rate: 20, duration: 1}}], base_seed: 3}}\n\
             report: {{request_lifecycle: {{per_request: true}}}}\n"
        ),
    )
    .expect("write the profile");
    path
}

fn all_ok(dir: &Path, requests: u64) -> Result<()> {
    let r = stage_report(&run_dir(dir)?, 0)?;
    assert_eq!(num(&r, "metrics.requests.total") as u64, requests);
    assert_eq!(
        num(&r, "metrics.requests.failures") as u64,
        0,
        "the sim refused requests: the secrets did not reach it"
    );
    Ok(())
}

#[test]
fn secrets_reach_the_engine_and_no_file_or_log() -> Result<()> {
    let dir = scratch("secrets_redacted");
    let (_sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &[
            "--deterministic",
            "--ttft-ms",
            "5",
            "--itl-ms",
            "2",
            "--require-header",
            &format!("authorization=Bearer {API_KEY}"),
            "--require-header",
            &format!("x-api-token={ENV_SECRET}"),
        ],
    )?;
    let profile = write(
        &dir,
        &sim_addr,
        &format!(", api_key: {API_KEY}"),
        "X-Api-Token: REPLACE_ENV_TEST_SECRET",
    );
    let (mut coord, addr) = start_coordinator(
        &dir,
        &[
            s(&["run", &arg(&profile), "--insecure", "--expect-agents", "2"]),
            s(&["--start-lead", "0.5", "--out", &arg(&dir.join("results"))]),
        ]
        .concat(),
        &[("TEST_SECRET", ENV_SECRET)],
    )?;
    let mut a = start_agent(&dir, &addr, "agent-a", "client", &[])?;
    let mut b = start_agent(&dir, &addr, "agent-b", "client", &[])?;
    assert!(
        coord.wait(Duration::from_secs(60))?.success(),
        "{}",
        log(&dir, "coordinator")
    );
    for p in [&mut a, &mut b] {
        assert!(
            p.wait(Duration::from_secs(10))?.success(),
            "{}",
            log(&dir, &p.name)
        );
    }
    all_ok(&dir, 20)?;
    let run = run_dir(&dir)?;
    assert!(run.join("report.html").exists() && run.join("requests.jsonl").exists());
    let copy = std::fs::read_to_string(run.join("profile.yaml"))?;
    assert!(copy.contains("<redacted>"), "{copy}");
    let stdout = coord.stdout().join("\n");
    for secret in [API_KEY, ENV_SECRET] {
        // The run directory and every process's log (the sim was told the values on its
        // command line; it does not log them either).
        let mut found = files_containing(&dir.join("results"), secret);
        found.extend(logs_containing(&dir, secret));
        assert!(found.is_empty(), "{secret} written in clear to {found:?}");
        assert!(
            !stdout.contains(secret),
            "{secret} printed by the coordinator"
        );
    }
    Ok(())
}

/// The `*.log` files directly in `dir` that contain `needle`.
fn logs_containing(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
    let logs: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(logs.iter().any(|p| p.ends_with("coordinator.log")));
    logs.into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(needle)))
        .collect()
}

#[test]
fn a_submitted_profile_is_filled_from_the_submitters_environment() -> Result<()> {
    let dir = scratch("secrets_submitter_env");
    let (_sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &[
            "--deterministic",
            "--ttft-ms",
            "5",
            "--itl-ms",
            "2",
            "--require-header",
            "x-tenant=the-submitters-tenant",
        ],
    )?;
    let profile = write(&dir, &sim_addr, "", "X-Tenant: REPLACE_ENV_X_TENANT");
    let (_coord, addr) = start_coordinator(
        &dir,
        &[
            s(&["serve", "--insecure", "--start-lead", "0.5"]),
            s(&["--out", &arg(&dir.join("results"))]),
        ]
        .concat(),
        &[("X_TENANT", "the-coordinators-tenant")],
    )?;
    let submit = s(&[
        "submit",
        &arg(&profile),
        "--coordinator",
        &addr,
        "--insecure",
    ]);
    // Without the variable on the submitter's side nothing is sent: the coordinator's value is
    // never used.
    let (ok, out) = run_to_end(
        &dir,
        "submit-unset",
        "coordinator",
        &submit,
        &[],
        Duration::from_secs(30),
    )?;
    assert!(!ok && out.contains("X_TENANT"), "{out}");
    assert!(
        !dir.join("results").exists(),
        "a run started without the submitter's value"
    );
    let mut a = start_agent(&dir, &addr, "agent-a", "client", &[])?;
    let (ok, out) = run_to_end(
        &dir,
        "submit",
        "coordinator",
        &submit,
        &[("X_TENANT", "the-submitters-tenant")],
        Duration::from_secs(60),
    )?;
    assert!(ok, "{out}");
    assert!(a.wait(Duration::from_secs(10))?.success());
    all_ok(&dir, 20)?;
    for value in ["the-submitters-tenant", "the-coordinators-tenant"] {
        let mut found = files_containing(&run_dir(&dir)?, value);
        found.extend(logs_containing(&dir, value));
        assert!(found.is_empty(), "{value} written in clear to {found:?}");
    }
    Ok(())
}
