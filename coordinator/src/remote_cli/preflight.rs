//! `coordinator preflight`: the checks before a long run against a running `coordinator serve`
//! (issue 18), one line each, `ok` or `FAIL` with its figures: the coordinator answers, the
//! expected agents are joined with their roles, their clocks agree with the coordinator's within
//! a bound, and — given a profile — the endpoint answers a test request and every
//! load-generating agent reaches it. Exit status 0 only when every check passes.

use super::Remote;
use anyhow::bail;
use fleetbench_model::role::Role;
use fleetbench_profile::env_values;
use fleetbench_proto::v1 as wire;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// The profile whose endpoint is tested (each agent sends request 0 of its stage-0 shard);
    /// without it only the fleet is checked.
    pub profile: Option<PathBuf>,
    /// At least this many agents must be joined (default: the profile's
    /// fleet.expect_agents, else 1).
    #[arg(long)]
    pub expect_agents: Option<u32>,
    /// At least this many agents of each role, e.g. `prefill=1,decode=1`.
    #[arg(long, value_delimiter = ',', value_name = "ROLE=N", value_parser = parse_role_count)]
    pub roles: Vec<(Role, u32)>,
    /// Every agent's clock must agree with the coordinator's within this bound, offset plus
    /// its uncertainty (half the probe's round trip), in milliseconds.
    #[arg(long, default_value_t = 50.0)]
    pub max_clock_offset_ms: f64,
    /// Override a profile key, as for `run`; repeatable.
    #[arg(short = 'o', long = "override", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    #[command(flatten)]
    pub remote: Remote,
}

fn parse_role_count(s: &str) -> Result<(Role, u32), String> {
    let (role, n) = s
        .split_once('=')
        .ok_or_else(|| format!("expected ROLE=N (e.g. prefill=1), got {s:?}"))?;
    let n = n
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: the count must be a whole number"))?;
    Ok((role.trim().parse()?, n))
}

/// One check's outcome: its line, and whether it passed.
struct Line {
    ok: bool,
    text: String,
}

impl Line {
    fn new(ok: bool, text: String) -> Line {
        Line { ok, text }
    }
}

/// Runs the checks, prints one line each; an error (exit status 1) unless all pass.
pub async fn run(args: Args) -> anyhow::Result<()> {
    // The profile is read and checked here first, as `submit` does.
    let mut request = wire::PreflightRequest::default();
    let mut expect = args.expect_agents;
    let mut endpoint = None;
    if let Some(path) = &args.profile {
        let runs = crate::matrix_cli::profiles_to_run(path, &args.overrides, &Default::default())?;
        let Some((loaded, text)) = runs.into_iter().next() else {
            bail!("{}: nothing to run", path.display());
        };
        expect = expect.or(loaded.profile.fleet.expect_agents);
        endpoint = Some(loaded.profile.server.base_url.clone());
        let mut env = env_values(&std::fs::read_to_string(path)?);
        env.extend(env_values(&text));
        request = wire::PreflightRequest {
            profile_yaml: text,
            profile_name: path.display().to_string(),
            env: env.into_iter().collect(),
        };
    }
    let addr = &args.remote.coordinator;
    let dial = args.remote.dial.security()?;
    let reply = match crate::dial_cli::connect(addr, &dial).await {
        Ok(mut client) => client.preflight(request).await,
        Err(e) => {
            println!("FAIL coordinator {addr}: {e:#}");
            bail!("preflight: the coordinator could not be reached: {e:#}");
        }
    };
    let reply = match reply {
        Ok(r) => r.into_inner(),
        Err(s) => {
            println!("FAIL coordinator {addr}: {} ({:?})", s.message(), s.code());
            bail!(
                "preflight: the coordinator refused the check: {}",
                s.message()
            );
        }
    };
    let mut lines = vec![Line::new(
        true,
        format!(
            "coordinator {addr}: answered (version {}), {} agents joined",
            reply.coordinator_version,
            reply.agents.len()
        ),
    )];
    lines.push(agents_line(&reply.agents, expect.unwrap_or(1), &args.roles));
    lines.push(clock_line(&reply.agents, args.max_clock_offset_ms));
    lines.extend(endpoint_lines(&reply, endpoint.as_deref()));
    let failed = lines.iter().filter(|l| !l.ok).count();
    for l in &lines {
        println!("{} {}", if l.ok { "ok  " } else { "FAIL" }, l.text);
    }
    if failed > 0 {
        bail!("preflight: {failed} of {} checks failed", lines.len());
    }
    println!("preflight: all {} checks passed", lines.len());
    Ok(())
}

/// (b) enough agents, and enough of each role asked for.
fn agents_line(agents: &[wire::AgentStatus], expect: u32, roles: &[(Role, u32)]) -> Line {
    let mut by_role: BTreeMap<&str, u32> = BTreeMap::new();
    for a in agents {
        *by_role.entry(a.role.as_str()).or_default() += 1;
    }
    let joined: Vec<String> = agents
        .iter()
        .map(|a| format!("{} ({}, {})", a.agent_id, a.role, a.host_name))
        .collect();
    let mut missing = Vec::new();
    if (agents.len() as u32) < expect {
        missing.push(format!("{} agents expected", expect));
    }
    for (role, n) in roles {
        let have = by_role.get(role.as_str()).copied().unwrap_or(0);
        if have < *n {
            missing.push(format!("{n} {role} expected, {have} joined"));
        }
    }
    let list = if joined.is_empty() {
        "none".to_string()
    } else {
        joined.join(", ")
    };
    let text = format!("agents: {} joined: {list}", agents.len());
    if missing.is_empty() {
        Line::new(true, text)
    } else {
        Line::new(false, format!("{text}; {}", missing.join("; ")))
    }
}

/// (c) every agent's clock offset plus its uncertainty within `max_ms`.
fn clock_line(agents: &[wire::AgentStatus], max_ms: f64) -> Line {
    if agents.is_empty() {
        return Line::new(false, "clocks: no agent to compare".into());
    }
    let ms = |ns: i64| ns as f64 / 1e6;
    let mut bad = Vec::new();
    let mut worst: Option<(f64, &wire::AgentStatus)> = None;
    for a in agents {
        if a.clock_probes == 0 {
            bad.push(format!("{}: no clock probe answered", a.agent_id));
            continue;
        }
        let bound = ms(a.clock_offset_ns).abs() + ms(a.clock_round_trip_ns) / 2.0;
        if bound > max_ms {
            bad.push(format!(
                "{}: offset {:+.3} ms ± {:.3} ms",
                a.agent_id,
                ms(a.clock_offset_ns),
                ms(a.clock_round_trip_ns) / 2.0
            ));
        }
        if worst.is_none_or(|(w, _)| bound > w) {
            worst = Some((bound, a));
        }
    }
    let largest = worst.map_or(String::new(), |(_, a)| {
        format!(
            " (largest: {} offset {:+.3} ms ± {:.3} ms)",
            a.agent_id,
            ms(a.clock_offset_ns),
            ms(a.clock_round_trip_ns) / 2.0
        )
    });
    if bad.is_empty() {
        Line::new(
            true,
            format!(
                "clocks: {} agents within {max_ms} ms{largest}",
                agents.len()
            ),
        )
    } else {
        Line::new(
            false,
            format!("clocks: beyond {max_ms} ms: {}", bad.join("; ")),
        )
    }
}

/// (a) the endpoint answered a test request, and (d) one line per agent that was asked.
fn endpoint_lines(reply: &wire::PreflightReply, endpoint: Option<&str>) -> Vec<Line> {
    let Some(url) = endpoint else {
        return vec![Line::new(
            true,
            "endpoint: not tested (no PROFILE given)".to_string(),
        )];
    };
    if !reply.skipped.is_empty() {
        return vec![Line::new(
            false,
            format!("endpoint {url}: no test request sent: {}", reply.skipped),
        )];
    }
    let ok: Vec<&wire::AgentAnswer> = reply
        .answers
        .iter()
        .filter(|a| a.result.as_ref().is_some_and(|r| r.ok))
        .collect();
    let mut lines = vec![match ok.first() {
        Some(a) => {
            let r = a.result.as_ref().expect("filtered on a result");
            Line::new(
                true,
                format!(
                    "endpoint {url}: answered a test request (HTTP {} in {:.1} ms, sent by {})",
                    r.status,
                    r.latency_us as f64 / 1000.0,
                    a.agent_id
                ),
            )
        }
        None if reply.answers.is_empty() => Line::new(
            false,
            format!("endpoint {url}: no agent generates load in stage 0 to test it"),
        ),
        None => Line::new(false, format!("endpoint {url}: no test request succeeded")),
    }];
    for a in &reply.answers {
        lines.push(match &a.result {
            Some(r) if r.ok => Line::new(
                true,
                format!(
                    "agent {} reaches {}: HTTP {} in {:.1} ms",
                    a.agent_id,
                    a.endpoint,
                    r.status,
                    r.latency_us as f64 / 1000.0
                ),
            ),
            Some(r) => Line::new(
                false,
                format!(
                    "{} (endpoint {})",
                    fleetbench_coordinator::preflight::describe(&a.agent_id, r),
                    a.endpoint
                ),
            ),
            None => Line::new(false, a.error.clone()),
        });
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, role: &str, offset_ns: i64, rtt_ns: i64, probes: u32) -> wire::AgentStatus {
        wire::AgentStatus {
            agent_id: id.into(),
            role: role.into(),
            host_name: "h".into(),
            clock_offset_ns: offset_ns,
            clock_round_trip_ns: rtt_ns,
            clock_probes: probes,
            silent_ms: 0,
        }
    }

    #[test]
    fn roles_and_counts_are_checked() {
        let a = [
            agent("p", "prefill", 0, 0, 3),
            agent("d", "decode", 0, 0, 3),
        ];
        assert!(agents_line(&a, 2, &[(Role::Prefill, 1), (Role::Decode, 1)]).ok);
        let l = agents_line(&a[..1], 2, &[(Role::Decode, 1)]);
        assert!(!l.ok);
        assert!(
            l.text.contains("2 agents expected") && l.text.contains("1 decode expected, 0 joined"),
            "{}",
            l.text
        );
        assert_eq!(parse_role_count("prefill=2"), Ok((Role::Prefill, 2)));
        assert!(parse_role_count("gpu=1").is_err() && parse_role_count("decode").is_err());
    }

    #[test]
    fn a_clock_fails_on_offset_plus_uncertainty() {
        let ok = [agent("a", "client", 2_000_000, 1_000_000, 3)];
        assert!(clock_line(&ok, 5.0).ok);
        // 4.6 ms offset + 0.5 ms uncertainty is beyond 5 ms.
        let l = clock_line(&[agent("a", "client", -4_600_000, 1_000_000, 3)], 5.0);
        assert!(
            !l.ok && l.text.contains("a: offset -4.600 ms ± 0.500 ms"),
            "{}",
            l.text
        );
        assert!(!clock_line(&[agent("a", "client", 0, 0, 0)], 5.0).ok);
        assert!(!clock_line(&[], 5.0).ok);
    }
}
