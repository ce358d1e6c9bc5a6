//! Remote use of a running `coordinator serve` over TLS with a token (issues 18 and 21), with
//! real sim, coordinator and agent processes on loopback: `coordinator preflight` passes on a
//! complete fleet, fails naming a missing agent and a down endpoint, each with its line and exit
//! status; `coordinator runs` lists a finished run; `coordinator fetch` downloads its directory
//! byte for byte and nothing a symbolic link points at; callers without the client token are
//! refused; `watch` ends with the fetch command.

use anyhow::{Context, Result};
use fleetbench_e2e::security::*;
use fleetbench_e2e::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// A `coordinator` client command run to its end: exit status, stdout lines, log.
fn client(dir: &Path, name: &str, args: &[String]) -> Result<(i32, Vec<String>, String)> {
    let mut p = Proc::spawn_env(name, &bin("coordinator"), args, &[], dir)?;
    let status = p
        .wait(Duration::from_secs(60))
        .with_context(|| format!("{name} did not end"))?;
    Ok((status.code().unwrap_or(-1), p.stdout(), log(dir, name)))
}

/// The line of `lines` that starts with `prefix`.
fn line<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in {lines:#?}"))
}

/// Every regular file under `root`, relative, sorted.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                out.push(e.path().strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

struct Setup {
    dir: PathBuf,
    addr: String,
    certs: PathBuf,
    profile: PathBuf,
}

impl Setup {
    /// The client flags: TLS with the CA, the client token.
    fn dial(&self) -> Vec<String> {
        s(&[
            "--coordinator",
            &self.addr,
            "--ca-cert",
            &arg(&self.certs.join("ca.pem")),
            "--token-file",
            &arg(&self.certs.join("client.token")),
        ])
    }

    fn preflight(&self, name: &str, extra: &[&str]) -> Result<(i32, Vec<String>, String)> {
        let mut args = s(&["preflight", &arg(&self.profile)]);
        args.extend(s(extra));
        args.extend(self.dial());
        client(&self.dir, name, &args)
    }

    fn agent(&self, name: &str, role: &str) -> Result<Proc> {
        let args = s(&[
            "join",
            "--coordinator",
            &self.addr,
            "--ca-cert",
            &arg(&self.certs.join("ca.pem")),
            "--token-file",
            &arg(&self.certs.join("agent.token")),
            "--name",
            name,
            "--role",
            role,
        ]);
        Proc::spawn(name, &bin("agent"), &args, &self.dir)
    }

    /// Waits until `coordinator preflight` sees `n` agents.
    fn wait_for_agents(&self, n: usize) -> Result<()> {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let mut args = s(&["preflight"]);
            args.extend(self.dial());
            let (_, out, _) = client(&self.dir, "preflight-wait", &args)?;
            if out
                .iter()
                .any(|l| l.contains(&format!("agents: {n} joined")))
            {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < until, "{n} agents did not join: {out:#?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn preflight_runs_and_fetch_against_serve_with_tls_and_token() -> Result<()> {
    let dir = scratch("remote_use");
    let (sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "5", "--itl-ms", "2"],
    )?;
    let profile = write_profile(
        &dir,
        &sim_addr,
        16,
        8,
        "load: {type: constant, stages: [{rate: 20, duration: 1}, {rate: 40, duration: 0.5}], base_seed: 3}",
    );
    let certs = make_certs(&dir, "certs", &[], &[])?;
    let results = dir.join("results");
    let (_coord, addr) = start_coordinator(
        &dir,
        &[
            s(&["serve", "--out", &arg(&results), "--start-lead", "0.5"]),
            s(&[
                "--tls-cert",
                &arg(&certs.join("server.pem")),
                "--tls-key",
                &arg(&certs.join("server.key")),
                "--token-file",
                &arg(&certs.join("tokens")),
            ]),
        ]
        .concat(),
        &[],
    )?;
    let setup = Setup {
        dir: dir.clone(),
        addr,
        certs,
        profile,
    };
    let _a = setup.agent("agent-a", "prefill")?;
    setup.wait_for_agents(1)?;

    // An agent missing: the decode agent is not there.
    let roles = ["--expect-agents", "2", "--roles", "prefill=1,decode=1"];
    let (code, out, log) = setup.preflight("preflight-missing", &roles)?;
    assert_eq!(code, 1, "{out:#?}\n{log}");
    let agents = line(&out, "FAIL agents: 1 joined: agent-a (prefill, ");
    assert!(
        agents.contains("2 agents expected") && agents.contains("1 decode expected, 0 joined"),
        "{agents}"
    );
    assert!(log.contains("1 of 5 checks failed"), "{log}");
    line(&out, "ok   agent agent-a reaches http://");

    // All there: every check passes.
    let _b = setup.agent("agent-b", "decode")?;
    setup.wait_for_agents(2)?;
    let (code, out, log) = setup.preflight(
        "preflight-ok",
        &[&roles[..], &["--max-clock-offset-ms", "20"]].concat(),
    )?;
    assert_eq!(code, 0, "{out:#?}\n{log}");
    line(&out, "ok   coordinator ");
    line(&out, "ok   agents: 2 joined: agent-a (prefill, ");
    assert!(line(&out, "ok   clocks: 2 agents within 20 ms (largest: ").contains(" ms ± "));
    assert!(line(
        &out,
        &format!("ok   endpoint http://{sim_addr}: answered a test request (HTTP 200 in ")
    )
    .contains("sent by agent-"));
    line(
        &out,
        &format!("ok   agent agent-a reaches http://{sim_addr}: HTTP 200 in "),
    );
    line(
        &out,
        &format!("ok   agent agent-b reaches http://{sim_addr}: HTTP 200 in "),
    );
    assert_eq!(
        out.last().map(String::as_str),
        Some("preflight: all 6 checks passed")
    );
    // A bound no clock can meet fails the clock check alone.
    let (code, out, _) = setup.preflight("preflight-clock", &["--max-clock-offset-ms", "0"])?;
    assert_eq!(code, 1);
    assert!(line(&out, "FAIL clocks: beyond 0 ms: agent-a: offset ").contains("agent-b: offset"));

    // A run, then the list and the download.
    let mut submit = s(&["submit", &arg(&setup.profile)]);
    submit.extend(setup.dial());
    let (code, out, log) = client(&dir, "submit", &submit)?;
    assert_eq!(code, 0, "{out:#?}\n{log}");
    let run = run_dir(&dir)?;
    let run_id = run.file_name().unwrap().to_str().unwrap().to_string();
    let mut runs = s(&["runs"]);
    runs.extend(setup.dial());
    let (code, out, log) = client(&dir, "runs", &runs)?;
    assert_eq!(code, 0, "{log}");
    assert!(
        out[0].starts_with("RUN ") && out[0].contains("PROFILE  STATE"),
        "{out:#?}"
    );
    let row: Vec<&str> = line(&out, &run_id).split_whitespace().collect();
    let started = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &run_id[0..4],
        &run_id[4..6],
        &run_id[6..8],
        &run_id[9..11],
        &run_id[11..13],
        &run_id[13..15]
    );
    assert_eq!(row, [&run_id, "e2e", "finished", &started, "2/2", "ok"]);

    // Plant links to outside the run directory: neither is followed.
    let outside = dir.join("outside");
    std::fs::create_dir_all(&outside)?;
    std::fs::write(outside.join("secret.txt"), "not for clients")?;
    std::os::unix::fs::symlink(outside.join("secret.txt"), run.join("leak.txt"))?;
    std::os::unix::fs::symlink(&outside, run.join("leak-dir"))?;
    let fetched = dir.join("fetched");
    let mut fetch = s(&["fetch", &run_id, "--out", &arg(&fetched)]);
    fetch.extend(setup.dial());
    let (code, out, log) = client(&dir, "fetch", &fetch)?;
    assert_eq!(code, 0, "{out:#?}\n{log}");
    let got = fetched.join(&run_id);
    let want = files(&run);
    assert!(want.len() > 10, "{want:?}");
    assert_eq!(files(&got), want);
    for f in &want {
        assert_eq!(
            std::fs::read(got.join(f))?,
            std::fs::read(run.join(f))?,
            "{}",
            f.display()
        );
    }
    assert!(!got.join("leak.txt").exists() && !got.join("leak-dir").exists());
    assert!(files(&fetched).iter().all(|f| !f.ends_with("secret.txt")));
    let bytes: u64 = want
        .iter()
        .map(|f| std::fs::metadata(run.join(f)).unwrap().len())
        .sum();
    assert_eq!(
        out.last().unwrap(),
        &format!(
            "fetched run {run_id}: {} files, {bytes} bytes into {}",
            want.len(),
            got.display()
        )
    );
    // Into an existing directory: refused, nothing overwritten.
    let (code, _, log) = client(&dir, "fetch-again", &fetch)?;
    assert_eq!(code, 1);
    assert!(log.contains("exists already"), "{log}");

    // `watch` of the finished run ends with the fetch command.
    let mut watch = s(&["watch", &run_id]);
    watch.extend(setup.dial());
    let (code, out, log) = client(&dir, "watch", &watch)?;
    assert_eq!(code, 0, "{log}");
    let fetch_line = line(&out, "fetch: coordinator fetch ");
    assert!(
        fetch_line.contains(&format!("fetch {run_id} --coordinator {}", setup.addr))
            && fetch_line.contains("--ca-cert"),
        "{fetch_line}"
    );

    refused_callers(&setup, &run_id)?;

    // The endpoint down: the endpoint and every agent's reach fail, with exit status 1.
    drop(sim);
    let (code, out, log) = setup.preflight("preflight-down", &roles)?;
    assert_eq!(code, 1, "{out:#?}\n{log}");
    line(&out, "ok   agents: 2 joined");
    line(
        &out,
        &format!("FAIL endpoint http://{sim_addr}: no test request succeeded"),
    );
    for a in ["agent-a", "agent-b"] {
        let l = line(&out, &format!("FAIL agent {a}: connect to {sim_addr}: "));
        assert!(l.ends_with(&format!("(endpoint http://{sim_addr})")), "{l}");
    }
    assert!(log.contains("3 of 6 checks failed"), "{log}");
    Ok(())
}

/// Without the client token (none, or the agent's) `runs`, `fetch` and `preflight` are refused,
/// from the command line and straight over gRPC; a run id that is not a plain name is refused.
fn refused_callers(setup: &Setup, run_id: &str) -> Result<()> {
    let tls = s(&[
        "--coordinator",
        &setup.addr,
        "--ca-cert",
        &arg(&setup.certs.join("ca.pem")),
    ]);
    let agent_token = s(&["--token-file", &arg(&setup.certs.join("agent.token"))]);
    let out = arg(&setup.dir.join("refused"));
    for (name, cmd, token, expect) in [
        ("runs-none", s(&["runs"]), vec![], "no token"),
        (
            "runs-agent",
            s(&["runs"]),
            agent_token.clone(),
            "no client token",
        ),
        (
            "fetch-none",
            s(&["fetch", run_id, "--out", &out]),
            vec![],
            "no token",
        ),
        ("preflight-none", s(&["preflight"]), vec![], "no token"),
    ] {
        let args = [cmd, tls.clone(), token].concat();
        let (code, _, log) = client(&setup.dir, name, &args)?;
        assert_eq!(code, 1, "{name} was let in:\n{log}");
        assert!(log.contains(expect), "{name}: no {expect:?}:\n{log}");
    }
    assert!(!setup.dir.join("refused").join(run_id).exists());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use fleetbench_proto::v1 as wire;
        let ca = std::fs::read(setup.certs.join("ca.pem"))?;
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(ca))
            .domain_name("localhost");
        let channel = tonic::transport::Endpoint::from_shared(format!("https://{}", setup.addr))?
            .tls_config(tls)?
            .connect()
            .await?;
        let mut c = wire::control_client::ControlClient::new(channel);
        let bearer = |file: &str| -> Result<tonic::metadata::MetadataValue<_>> {
            let t = std::fs::read_to_string(setup.certs.join(file))?;
            Ok(format!("Bearer {}", t.trim()).parse()?)
        };
        let e = c
            .list_runs(wire::ListRunsRequest {})
            .await
            .expect_err("ListRuns");
        assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
        let mut r = tonic::Request::new(wire::FetchRunRequest {
            run_id: run_id.into(),
        });
        r.metadata_mut()
            .insert("authorization", bearer("agent.token")?);
        let e = c
            .fetch_run(r)
            .await
            .expect_err("FetchRun with the agent's token");
        assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
        for bad in ["..", "../results", "/etc", "a/b"] {
            let mut r = tonic::Request::new(wire::FetchRunRequest { run_id: bad.into() });
            r.metadata_mut()
                .insert("authorization", bearer("client.token")?);
            let e = c.fetch_run(r).await.expect_err("FetchRun of a path");
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{bad}: {e:?}");
        }
        let mut r = tonic::Request::new(wire::FetchRunRequest {
            run_id: "20000101-000000-0000".into(),
        });
        r.metadata_mut()
            .insert("authorization", bearer("client.token")?);
        let e = c.fetch_run(r).await.expect_err("FetchRun of no run");
        assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
        anyhow::Ok(())
    })
}
