//! Issue 13, the control plane's doors: real coordinator, agent and sim processes on loopback.
//! (a) a run over mutual TLS with token passes, and agents without a certificate, with another
//! agent's certificate, with a client's certificate or with a wrong token are refused on both
//! sides; (b) Submit, Watch and GetReport need a client credential; (c) a second agent under a
//! connected agent's name is refused and the counts stay exact; (f) without `--insecure` and
//! without certificates the coordinator refuses to start, naming the flags.

use anyhow::Result;
use fleetbench_e2e::security::*;
use fleetbench_e2e::*;
use std::path::Path;
use std::time::Duration;

const REQUESTS: u64 = 20;

fn sim(dir: &Path) -> Result<(Proc, String)> {
    start_sim(
        dir,
        "sim",
        &["--deterministic", "--ttft-ms", "5", "--itl-ms", "2"],
    )
}

fn profile(dir: &Path, sim: &str) -> std::path::PathBuf {
    write_profile(
        dir,
        sim,
        16,
        8,
        "load: {type: constant, stages: [{rate: 20, duration: 1}], base_seed: 3}",
    )
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// `agent join --once` with `flags`, refused: it must exit non-zero with `expect` in its log.
fn refused_agent(
    dir: &Path,
    name: &str,
    addr: &str,
    flags: &[String],
    env: &[(&str, &str)],
    expect: &str,
) -> Result<()> {
    let mut args = s(&[
        "join",
        "--coordinator",
        addr,
        "--once",
        "--reconnect-timeout",
        "2",
    ]);
    args.extend(flags.iter().cloned());
    let (ok, log) = run_to_end(dir, name, "agent", &args, env, Duration::from_secs(30))?;
    assert!(!ok, "{name} was let in:\n{log}");
    assert!(
        log.contains(expect),
        "{name}: no {expect:?} in its log:\n{log}"
    );
    Ok(())
}

fn check_counts(dir: &Path) -> Result<()> {
    let run = run_dir(dir)?;
    let r = stage_report(&run, 0)?;
    assert_eq!(num(&r, "metrics.requests.total") as u64, REQUESTS);
    assert_eq!(num(&r, "metrics.requests.failures") as u64, 0);
    Ok(())
}

#[test]
fn mutual_tls_run_passes_and_wrong_credentials_are_refused_on_both_sides() -> Result<()> {
    let dir = scratch("security_mtls");
    let (_sim, sim_addr) = sim(&dir)?;
    let profile = profile(&dir, &sim_addr);
    let c = make_certs(&dir, "certs", &["agent-a", "agent-b"], &["me"])?;
    let other = make_certs(&dir, "other-ca", &["agent-a"], &[])?;
    let f = |n: &str| arg(&c.join(n));
    let (mut coord, addr) = start_coordinator(
        &dir,
        &[
            s(&["run", &arg(&profile), "--expect-agents", "2", "--out"]),
            vec![arg(&dir.join("results"))],
            s(&["--start-lead", "0.5", "--join-timeout", "60"]),
            s(&[
                "--tls-cert",
                &f("server.pem"),
                "--tls-key",
                &f("server.key"),
            ]),
            s(&["--client-ca", &f("ca.pem"), "--token-file", &f("tokens")]),
        ]
        .concat(),
        &[],
    )?;
    let tls = |cert: &str| {
        s(&[
            "--ca-cert",
            &f("ca.pem"),
            "--cert",
            &f(&format!("{cert}.pem")),
            "--key",
            &f(&format!("{cert}.key")),
        ])
    };
    let agent_token = f("agent.token");
    let with_token = |mut v: Vec<String>| {
        v.extend(s(&["--token-file", &agent_token]));
        v
    };
    // No certificate at all.
    refused_agent(
        &dir,
        "no-cert",
        &addr,
        &with_token(s(&["--name", "agent-a", "--ca-cert", &f("ca.pem")])),
        &[],
        "no client certificate",
    )?;
    // agent-b's certificate, joining as agent-a.
    let mut flags = with_token(tls("agent-agent-b"));
    flags.extend(s(&["--name", "agent-a"]));
    refused_agent(
        &dir,
        "other-name",
        &addr,
        &flags,
        &[],
        "certificate is for agent \"agent-b\"",
    )?;
    // A client's certificate may not join (with the agent token: the roles disagree).
    let mut flags = with_token(tls("client-me"));
    flags.extend(s(&["--name", "me"]));
    refused_agent(
        &dir,
        "client-cert",
        &addr,
        &flags,
        &[],
        "of different roles",
    )?;
    // The right certificate and a wrong token.
    let mut flags = tls("agent-agent-a");
    flags.extend(s(&["--name", "agent-a"]));
    refused_agent(
        &dir,
        "wrong-token",
        &addr,
        &flags,
        &[("FLEETBENCH_TOKEN", "agent:not-the-token-0123456789")],
        "wrong token",
    )?;
    // A certificate of another CA: the TLS handshake fails.
    let flags = with_token(s(&[
        "--ca-cert",
        &f("ca.pem"),
        "--cert",
        &arg(&other.join("agent-agent-a.pem")),
        "--key",
        &arg(&other.join("agent-agent-a.key")),
        "--name",
        "agent-a",
    ]));
    let mut args = s(&[
        "join",
        "--coordinator",
        &addr,
        "--once",
        "--reconnect-timeout",
        "2",
    ]);
    args.extend(flags);
    let (ok, _) = run_to_end(
        &dir,
        "other-ca",
        "agent",
        &args,
        &[],
        Duration::from_secs(30),
    )?;
    assert!(!ok, "an agent with a certificate of another CA was let in");
    let clog = log(&dir, "coordinator");
    for expect in [
        "no client certificate",
        "the certificate is for agent agent-b",
        "of different roles",
        "wrong token",
    ] {
        assert!(
            clog.contains(expect),
            "coordinator log lacks {expect:?}:\n{clog}"
        );
    }
    assert!(
        !clog.contains("agent joined"),
        "a refused agent joined:\n{clog}"
    );

    // The right credentials: the run passes over mutual TLS.
    let good = |name: &str| {
        let mut a = s(&["join", "--coordinator", &addr, "--once", "--name", name]);
        a.extend(with_token(tls(&format!("agent-{name}"))));
        Proc::spawn(name, &bin("agent"), &a, &dir)
    };
    let mut a = good("agent-a")?;
    let mut b = good("agent-b")?;
    assert!(
        coord.wait(Duration::from_secs(60))?.success(),
        "coordinator failed:\n{}",
        log(&dir, "coordinator")
    );
    for p in [&mut a, &mut b] {
        assert!(
            p.wait(Duration::from_secs(10))?.success(),
            "{} failed:\n{}",
            p.name,
            log(&dir, &p.name)
        );
    }
    check_counts(&dir)
}

#[test]
fn submit_watch_and_get_report_need_a_client_token() -> Result<()> {
    let dir = scratch("security_roles");
    let (_sim, sim_addr) = sim(&dir)?;
    let profile = profile(&dir, &sim_addr);
    let c = make_certs(&dir, "certs", &[], &[])?;
    let tokens = std::fs::read_to_string(c.join("tokens"))?;
    let agent_token = tokens
        .lines()
        .find(|l| l.starts_with("agent:"))
        .unwrap()
        .to_string();
    let client_token = tokens
        .lines()
        .find(|l| l.starts_with("client:"))
        .unwrap()
        .to_string();
    let (_coord, addr) = start_coordinator(
        &dir,
        &[
            s(&[
                "serve",
                "--insecure",
                "--token-file",
                &arg(&c.join("tokens")),
                "--out",
            ]),
            vec![arg(&dir.join("results"))],
            s(&["--start-lead", "0.5"]),
        ]
        .concat(),
        &[],
    )?;
    let submit = s(&[
        "submit",
        &arg(&profile),
        "--coordinator",
        &addr,
        "--insecure",
    ]);
    let watch = s(&["watch", "run-x", "--coordinator", &addr, "--insecure"]);
    let limit = Duration::from_secs(30);
    for (name, args, env, expect) in [
        ("submit-none", &submit, vec![], "no token"),
        // The command line sends only a client token: with an agent token it stops at home.
        (
            "submit-agent",
            &submit,
            vec![("FLEETBENCH_TOKEN", agent_token.as_str())],
            "no client token",
        ),
        (
            "submit-wrong",
            &submit,
            vec![("FLEETBENCH_TOKEN", "client:wrong-wrong-wrong-wrong")],
            "wrong token",
        ),
        ("watch-none", &watch, vec![], "no token"),
        (
            "watch-agent",
            &watch,
            vec![("FLEETBENCH_TOKEN", agent_token.as_str())],
            "no client token",
        ),
    ] {
        let (ok, log) = run_to_end(&dir, name, "coordinator", args, &env, limit)?;
        assert!(!ok, "{name} was let in:\n{log}");
        assert!(log.contains(expect), "{name}: no {expect:?}:\n{log}");
    }
    // Straight over gRPC, as a hostile client would: no token, then the agent's, for
    // Submit, Watch and GetReport; the client's token for Join.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use fleetbench_proto::v1 as wire;
        let mut client =
            wire::control_client::ControlClient::connect(format!("http://{addr}")).await?;
        let with = |token: Option<&str>, mut req: tonic::metadata::MetadataMap| {
            if let Some(t) = token {
                req.insert("authorization", format!("Bearer {t}").parse().unwrap());
            }
            req
        };
        for (token, code) in [
            (None, tonic::Code::Unauthenticated),
            (Some(agent_token.as_str()), tonic::Code::PermissionDenied),
        ] {
            let mut r = tonic::Request::new(wire::GetReportRequest {
                run_id: "run-x".into(),
            });
            *r.metadata_mut() = with(token, tonic::metadata::MetadataMap::new());
            assert_eq!(
                client.get_report(r).await.expect_err("GetReport").code(),
                code
            );
            let mut r = tonic::Request::new(wire::WatchRequest {
                run_id: "run-x".into(),
            });
            *r.metadata_mut() = with(token, tonic::metadata::MetadataMap::new());
            assert_eq!(client.watch(r).await.expect_err("Watch").code(), code);
            let text = std::fs::read_to_string(&profile)?;
            let mut r = tonic::Request::new(wire::SubmitRequest {
                profile_yaml: text,
                ..Default::default()
            });
            *r.metadata_mut() = with(token, tonic::metadata::MetadataMap::new());
            assert_eq!(client.submit(r).await.expect_err("Submit").code(), code);
        }
        let (_tx, rx) = tokio::sync::mpsc::channel::<wire::AgentMessage>(1);
        let mut r = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
        *r.metadata_mut() = with(Some(&client_token), tonic::metadata::MetadataMap::new());
        let e = client.join(r).await.expect_err("Join with a client token");
        assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
        assert!(e.message().contains("needs an agent credential"), "{e:?}");
        anyhow::Ok(())
    })?;
    assert!(
        !dir.join("results").exists(),
        "a refused submit started a run"
    );
    // An agent given only the client's token stops before it calls.
    refused_agent(
        &dir,
        "agent-client-token",
        &addr,
        &s(&["--insecure", "--name", "agent-a"]),
        &[("FLEETBENCH_TOKEN", client_token.as_str())],
        "no agent token",
    )?;
    // The right tokens: the run goes through.
    let agent = s(&[
        "join",
        "--coordinator",
        &addr,
        "--insecure",
        "--once",
        "--name",
        "agent-a",
    ]);
    let mut a = Proc::spawn_env(
        "agent-a",
        &bin("agent"),
        &agent,
        &[("FLEETBENCH_TOKEN", agent_token.as_str())],
        &dir,
    )?;
    let (ok, log) = run_to_end(
        &dir,
        "submit-ok",
        "coordinator",
        &submit,
        &[("FLEETBENCH_TOKEN", client_token.as_str())],
        Duration::from_secs(60),
    )?;
    assert!(ok, "the client's submit failed:\n{log}");
    assert!(a.wait(Duration::from_secs(10))?.success());
    check_counts(&dir)
}

#[test]
fn a_second_agent_under_a_connected_name_is_refused_and_counts_stay_exact() -> Result<()> {
    let dir = scratch("security_identity");
    let (_sim, sim_addr) = sim(&dir)?;
    let profile = profile(&dir, &sim_addr);
    let (mut coord, addr) = start_coordinator_run(&dir, &profile, 2, &[])?;
    let mut a = start_agent(&dir, &addr, "agent-a", "client", &[])?;
    wait_for_log(&dir, "coordinator", "agent joined", Duration::from_secs(20))?;
    let mut args = s(&["join", "--coordinator", &addr, "--insecure", "--once"]);
    args.extend(s(&["--name", "agent-a", "--reconnect-timeout", "2"]));
    let (ok, dup) = run_to_end(
        &dir,
        "impostor",
        "agent",
        &args,
        &[],
        Duration::from_secs(30),
    )?;
    assert!(!ok, "the impostor was let in:\n{dup}");
    assert!(dup.contains("an agent named agent-a is connected"), "{dup}");
    let clog = log(&dir, "coordinator");
    assert!(clog.contains("refused a join"), "{clog}");
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
    check_counts(&dir)?;
    let agents = std::fs::read_to_string(run_dir(&dir)?.join("agents.json"))?;
    assert_eq!(agents.matches("\"agent-a\"").count(), 1, "{agents}");
    Ok(())
}

#[test]
fn without_insecure_or_certificates_the_coordinator_refuses_to_start() -> Result<()> {
    let dir = scratch("security_refuse_start");
    for (name, args, expect) in [
        (
            "plain",
            s(&["serve", "--listen", "127.0.0.1:0"]),
            vec!["--tls-cert", "--tls-key", "--insecure"],
        ),
        (
            "tls-only",
            s(&[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
                "s.pem",
                "--tls-key",
                "s.key",
            ]),
            vec!["--client-ca", "--token-file"],
        ),
    ] {
        let (ok, log) = run_to_end(
            &dir,
            name,
            "coordinator",
            &args,
            &[],
            Duration::from_secs(20),
        )?;
        assert!(!ok, "{name}: the coordinator started:\n{log}");
        for flag in expect {
            assert!(
                log.contains(flag),
                "{name}: the error does not name {flag}:\n{log}"
            );
        }
    }
    Ok(())
}
