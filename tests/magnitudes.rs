//! `coordinator validate` on absurd magnitudes, as a process: each profile is refused at once
//! (nothing spins on 1e12 arrivals) with an error that names the file, the key, the value and the
//! limit; the same profiles at sane magnitudes validate and print their planned counts.

use fleetbench_e2e::*;
use std::process::Command;

fn validate(profile: &std::path::Path, agents: &str) -> anyhow::Result<(bool, String)> {
    let out = Command::new(bin("coordinator"))
        .arg("validate")
        .arg(profile)
        .args(["--agents", agents])
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

#[test]
fn validate_refuses_absurd_magnitudes_naming_key_value_and_limit() -> anyhow::Result<()> {
    let dir = scratch("magnitudes");
    let cases = [
        (
            "rate",
            8,
            "load: {type: constant, stages: [{rate: 1e12, duration: 60}]}",
            "`load.stages.0.rate`: 1000000000000 is above the limit 1000000 requests/s",
        ),
        (
            "input",
            1_000_000_000,
            "load: {type: constant, stages: [{rate: 1, duration: 2}]}",
            "`data.input_distribution.min`: 1000000000 is above the limit 1048576 tokens",
        ),
        (
            "concurrency",
            8,
            "load: {type: concurrent, stages: [{concurrency_level: 4000000000, num_requests: 10}]}",
            "`load.stages.0.concurrency_level`: 4000000000 is above the limit 1000000 users",
        ),
    ];
    for (name, input, load, expected) in cases {
        let case = dir.join(name);
        std::fs::create_dir_all(&case)?;
        let path = write_profile(&case, "127.0.0.1:9", input, 4, load);
        let (ok, text) = validate(&path, "2")?;
        assert!(!ok, "{name}: refused: {text}");
        assert!(
            text.contains(&path.display().to_string()),
            "{name}: names the file: {text}"
        );
        assert!(text.contains(expected), "{name}: {text}");
    }
    // A large but sane constant stage: its per-agent counts come from a closed form.
    let path = write_profile(
        &dir,
        "127.0.0.1:9",
        8,
        4,
        "load: {type: constant, stages: [{rate: 1000000, duration: 1000}]}",
    );
    let (ok, text) = validate(&path, "8")?;
    assert!(ok, "{text}");
    assert!(
        text.contains("125000000 of 1000000000 requests (striped)"),
        "{text}"
    );
    Ok(())
}

#[test]
fn an_agent_refuses_more_users_than_it_may_open_connections() -> anyhow::Result<()> {
    let dir = scratch("magnitudes_ulimit");
    let path = write_profile(
        &dir,
        "127.0.0.1:9",
        8,
        4,
        "load: {type: concurrent, stages: [{concurrency_level: 300, num_requests: 300}]}",
    );
    let (mut coord, addr) = start_coordinator_run(&dir, &path, 1, &["--no-preflight"])?;
    // The agent under `ulimit -n 128`: 300 users cannot each hold a connection.
    let agent = format!(
        "ulimit -n 128 && exec '{}' join --coordinator {addr} --insecure --once --name small",
        bin("agent").display()
    );
    let _a = Proc::spawn(
        "small",
        std::path::Path::new("bash"),
        &["-c".into(), agent],
        &dir,
    )?;
    let status = coord.wait(std::time::Duration::from_secs(60))?;
    let log = std::fs::read_to_string(dir.join("coordinator.log"))?;
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("agent small failed its shard: the shard has 300 closed-loop users (one connection each), but this agent may open 128 files (ulimit -n)"),
        "{log}"
    );
    Ok(())
}
