//! `coordinator run` on one machine: the agents started here as child processes (the `agent`
//! binary next to this executable, else on PATH), joined over loopback through the same Join
//! stream as remote agents. The control plane stays on 127.0.0.1 without TLS, guarded by fresh
//! tokens that only this process and its children know (the agent's token travels in the
//! children's environment, never on a command line). The children are killed when the run ends,
//! fails or is interrupted ([`LocalAgents::stop`], also on drop), and give up on their own a few
//! seconds after the coordinator is gone (a crash).

use anyhow::{bail, Context};
use fleetbench_model::token::{Access, Tokens, TOKEN_ENV};
use fleetbench_profile::Profile;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Where a one-shot run's agents come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Agents {
    /// Wait for this many agents to join from anywhere.
    Remote(u32),
    /// Start this many agents here.
    Local(u32),
}

/// What decides between local and remote agents: the flags of `run` and the profile.
pub(crate) struct AgentChoice<'a> {
    pub expect_agents: Option<u32>,
    pub local_agents: Option<u32>,
    pub listen: SocketAddr,
    /// `--tls-cert` given: a control plane for other hosts.
    pub tls: bool,
    pub profile: &'a Profile,
}

impl AgentChoice<'_> {
    /// `--local-agents N` starts N here; `--expect-agents N`, a non-loopback `--listen`, TLS or a
    /// profile that describes its hosts (`fleet.hosts`) wait for remote agents; otherwise the
    /// agents the profile expects (`fleet.expect_agents`, else 1) are started here.
    pub fn decide(&self) -> anyhow::Result<Agents> {
        let expected = self.profile.fleet.expect_agents.unwrap_or(1);
        if let Some(n) = self.local_agents {
            if n == 0 {
                bail!("--local-agents 0: a run needs at least one agent (use --expect-agents N to wait for remote ones)");
            }
            if !self.listen.ip().is_loopback() || self.tls {
                bail!(
                    "--local-agents connects the agents over loopback with a fresh token: drop --listen {} and the TLS flags, or use --expect-agents N for remote agents",
                    self.listen
                );
            }
            return Ok(Agents::Local(n));
        }
        let describes_hosts = self
            .profile
            .fleet
            .hosts
            .as_ref()
            .is_some_and(|h| !h.is_empty());
        if let Some(n) = self.expect_agents {
            return Ok(Agents::Remote(n));
        }
        if !self.listen.ip().is_loopback() || self.tls || describes_hosts {
            return Ok(Agents::Remote(expected));
        }
        Ok(Agents::Local(expected))
    }
}

/// The control plane's tokens for a run with local agents: the user's (`--token-file`,
/// `FLEETBENCH_TOKEN`) when given, else fresh ones for this process only.
pub(crate) fn tokens(given: Option<Tokens>) -> Tokens {
    given.unwrap_or_else(Tokens::generate)
}

/// The `agent` binary: next to this executable, else the first on PATH.
pub(crate) fn agent_binary() -> anyhow::Result<PathBuf> {
    let name = format!("agent{}", std::env::consts::EXE_SUFFIX);
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        let beside = dir.join(&name);
        if beside.is_file() {
            return Ok(beside);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(&name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    bail!(
        "local agents need the `agent` binary, found neither next to this coordinator nor on PATH: \
         install it (`cargo install --path agent`) or start agents yourself and pass --expect-agents N"
    )
}

/// Agents running as this process's children.
pub(crate) struct LocalAgents {
    children: Vec<(String, Child)>,
    /// Where each child's log goes (`agent-<k>.log`).
    pub log_dir: PathBuf,
}

impl LocalAgents {
    /// Starts `n` agents (`local-1` … `local-n`, role client) that join `coordinator` over
    /// plaintext loopback with the agent token of `tokens`; their logs go to `log_dir`.
    pub fn start(
        n: u32,
        coordinator: SocketAddr,
        tokens: &Tokens,
        log_dir: &Path,
    ) -> anyhow::Result<LocalAgents> {
        if !coordinator.ip().is_loopback() {
            bail!("local agents join over loopback only, not {coordinator}");
        }
        let program = agent_binary()?;
        let token = tokens
            .require(Access::Agent, "the local agents' token")?
            .to_string();
        std::fs::create_dir_all(log_dir)
            .with_context(|| format!("create {}", log_dir.display()))?;
        let mut agents = LocalAgents {
            children: Vec::new(),
            log_dir: log_dir.to_path_buf(),
        };
        for k in 1..=n {
            let name = format!("local-{k}");
            let log_path = log_dir.join(format!("agent-{k}.log"));
            let log = std::fs::File::create(&log_path)
                .with_context(|| format!("create {}", log_path.display()))?;
            let child = Command::new(&program)
                .args(["join", "--coordinator"])
                .arg(coordinator.to_string())
                .args(["--insecure", "--name", &name, "--role", "client"])
                // A crashed coordinator leaves no agent behind for long.
                .args(["--reconnect-timeout", "5", "--orphan-timeout", "3"])
                .env_remove("FLEETBENCH_TOKEN_FILE")
                .env_remove("FLEETBENCH_CA_CERT")
                .env_remove("FLEETBENCH_COORDINATOR")
                .env(TOKEN_ENV, &token)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .with_context(|| format!("start {}", program.display()))?;
            agents.children.push((name, child));
        }
        Ok(agents)
    }

    /// How many agents were started.
    pub fn count(&self) -> usize {
        self.children.len()
    }

    /// Kills every child still running and reaps them all.
    pub fn stop(&mut self) {
        for (_, child) in &mut self.children {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        self.children.clear();
    }
}

impl Drop for LocalAgents {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(expect: Option<u32>, hosts: bool) -> Profile {
        let mut text = String::from(
            "server: {type: vllm, model_name: m, base_url: 'http://127.0.0.1:1'}\n\
             data: {type: random, input_distribution: {min: 8, max: 8, mean: 8, std_dev: 0, total_count: 10},\n\
                    output_distribution: {min: 8, max: 8, mean: 8, std_dev: 0, total_count: 10}}\n\
             load: {type: constant, stages: [{rate: 1, duration: 1}]}\n",
        );
        if let Some(n) = expect {
            text.push_str(&format!("fleet: {{expect_agents: {n}}}\n"));
        } else if hosts {
            text.push_str("fleet: {hosts: [{role: decode}]}\n");
        }
        fleetbench_profile::parse_profile(&text, Path::new("t.yaml"), "t")
            .unwrap()
            .profile
    }

    fn choice<'a>(
        p: &'a Profile,
        expect: Option<u32>,
        local: Option<u32>,
        listen: &str,
    ) -> AgentChoice<'a> {
        AgentChoice {
            expect_agents: expect,
            local_agents: local,
            listen: listen.parse().unwrap(),
            tls: false,
            profile: p,
        }
    }

    #[test]
    fn a_profile_alone_on_loopback_starts_the_agents_it_expects_here() {
        let p = profile(Some(2), false);
        assert_eq!(
            choice(&p, None, None, "127.0.0.1:0").decide().unwrap(),
            Agents::Local(2)
        );
        let p = profile(None, false);
        assert_eq!(
            choice(&p, None, None, "127.0.0.1:0").decide().unwrap(),
            Agents::Local(1)
        );
        assert_eq!(
            choice(&p, None, Some(3), "127.0.0.1:0").decide().unwrap(),
            Agents::Local(3)
        );
    }

    #[test]
    fn expect_agents_a_public_listen_tls_or_hosts_wait_for_remote_agents() {
        let p = profile(Some(2), false);
        assert_eq!(
            choice(&p, Some(4), None, "127.0.0.1:0").decide().unwrap(),
            Agents::Remote(4)
        );
        assert_eq!(
            choice(&p, None, None, "0.0.0.0:7600").decide().unwrap(),
            Agents::Remote(2)
        );
        let mut c = choice(&p, None, None, "127.0.0.1:0");
        c.tls = true;
        assert_eq!(c.decide().unwrap(), Agents::Remote(2));
        let p = profile(None, true);
        assert_eq!(
            choice(&p, None, None, "127.0.0.1:0").decide().unwrap(),
            Agents::Remote(1)
        );
    }

    #[test]
    fn local_agents_refuse_a_public_listen_and_zero() {
        let p = profile(None, false);
        let e = choice(&p, None, Some(2), "0.0.0.0:7600")
            .decide()
            .unwrap_err();
        assert!(e.to_string().contains("loopback"), "{e}");
        let e = choice(&p, None, Some(0), "127.0.0.1:0")
            .decide()
            .unwrap_err();
        assert!(e.to_string().contains("--local-agents 0"), "{e}");
    }
}
