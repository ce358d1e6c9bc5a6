//! Multi-host tests in containers: the project's image built from this workspace's binaries
//! (`scripts/image.sh`) and the compose deployment of `deploy/compose/`, each host a container
//! with its own address. Every container and network a test starts is removed when its
//! [`Cluster`] is dropped. Without a Docker Engine the tests skip with a message.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The repository's root (the tests crate is one of its members).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .to_path_buf()
}

/// Whether a Docker Engine answers; when not, prints why the calling test is skipped.
pub fn docker_available(test: &str) -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIPPED {test}: no Docker Engine here (`docker info` failed); container tests need one");
    }
    ok
}

fn run(cmd: &mut Command) -> Result<Output> {
    let out = cmd.output().with_context(|| format!("run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// Builds the image `tag` from the binaries next to this test (debug build).
pub fn build_image(tag: &str) -> Result<()> {
    let bin_dir = crate::bin("coordinator")
        .parent()
        .expect("binary dir")
        .to_path_buf();
    run(Command::new("bash")
        .arg(repo_root().join("scripts/image.sh"))
        .env("IMAGE_BIN_DIR", bin_dir)
        .env("IMAGE_TAG", tag))?;
    Ok(())
}

/// One compose project of `deploy/compose/compose.yaml`, torn down (containers, networks,
/// volumes) when dropped.
pub struct Cluster {
    project: String,
    env: Vec<(String, String)>,
    /// Compose files applied over `deploy/compose/compose.yaml`, in order.
    overrides: Vec<PathBuf>,
}

impl Cluster {
    /// Starts the deployment with `profile` for the coordinator, results into `results`.
    pub fn up(project: &str, image: &str, profile: &Path, results: &Path) -> Result<Cluster> {
        Self::up_with(project, image, profile, results, &[])
    }

    /// As [`Cluster::up`], with more compose variables (e.g. `FLEETBENCH_AGENT_TIMEOUT`).
    pub fn up_with(
        project: &str,
        image: &str,
        profile: &Path,
        results: &Path,
        vars: &[(&str, &str)],
    ) -> Result<Cluster> {
        Self::up_full(project, image, profile, results, vars, &[])
    }

    /// As [`Cluster::up_with`], with compose files applied over the deployment's.
    pub fn up_full(
        project: &str,
        image: &str,
        profile: &Path,
        results: &Path,
        vars: &[(&str, &str)],
        overrides: &[PathBuf],
    ) -> Result<Cluster> {
        std::fs::create_dir_all(results)?;
        let uid = run(Command::new("id").arg("-u"))?;
        let gid = run(Command::new("id").arg("-g"))?;
        let env: Vec<(String, String)> = [
            ("FLEETBENCH_IMAGE".into(), image.to_string()),
            ("FLEETBENCH_PROFILE".into(), profile.display().to_string()),
            ("FLEETBENCH_RESULTS".into(), results.display().to_string()),
            (
                "FLEETBENCH_UID".into(),
                String::from_utf8_lossy(&uid.stdout).trim().into(),
            ),
            (
                "FLEETBENCH_GID".into(),
                String::from_utf8_lossy(&gid.stdout).trim().into(),
            ),
        ]
        .into_iter()
        .chain(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
        let cluster = Cluster {
            project: project.to_string(),
            env,
            overrides: overrides.to_vec(),
        };
        cluster.compose(&["up", "-d", "--no-build"])?;
        Ok(cluster)
    }

    /// A project that something else deploys (a sweep's reconfigure command), with the same
    /// variables and compose files; nothing is started here, and it is torn down when dropped.
    pub fn attach(project: &str, vars: &[(&str, &str)], overrides: &[PathBuf]) -> Cluster {
        Cluster {
            project: project.to_string(),
            env: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            overrides: overrides.to_vec(),
        }
    }

    /// `docker compose` (or the standalone `docker-compose`) on this project.
    pub fn compose(&self, args: &[&str]) -> Result<Output> {
        let plugin = Command::new("docker")
            .args(["compose", "version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        let mut cmd = if plugin {
            let mut c = Command::new("docker");
            c.arg("compose");
            c
        } else {
            Command::new("docker-compose")
        };
        cmd.arg("-f")
            .arg(repo_root().join("deploy/compose/compose.yaml"));
        for o in &self.overrides {
            cmd.arg("-f").arg(o);
        }
        cmd.args(["-p", &self.project])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        run(&mut cmd)
    }

    /// The container id of a service.
    pub fn container(&self, service: &str) -> Result<String> {
        let out = self.compose(&["ps", "-q", service])?;
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if id.is_empty() {
            bail!("no container for service {service}");
        }
        Ok(id)
    }

    /// Waits up to `limit` for a service's container to exit; its exit code.
    pub fn wait_exit(&self, service: &str, limit: Duration) -> Result<i64> {
        let id = self.container(service)?;
        let start = Instant::now();
        while start.elapsed() < limit {
            let out = run(Command::new("docker").args([
                "inspect",
                "--format",
                "{{.State.Running}} {{.State.ExitCode}}",
                &id,
            ]))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut parts = text.split_whitespace();
            if parts.next() == Some("false") {
                return Ok(parts.next().unwrap_or("-1").parse().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        bail!("{service} still running after {limit:?}")
    }

    /// `docker network disconnect` (`connect: false`) or `connect` of a service's container from
    /// the deployment's network.
    pub fn network(&self, service: &str, connect: bool) -> Result<()> {
        let id = self.container(service)?;
        let net = self.network_name();
        run(Command::new("docker").args([
            "network",
            if connect { "connect" } else { "disconnect" },
            &net,
            &id,
        ]))?;
        Ok(())
    }

    /// The deployment's network, as `docker network` names it.
    pub fn network_name(&self) -> String {
        format!("{}_fleet", self.project)
    }

    /// `docker start` of a service's (stopped) container.
    pub fn start(&self, service: &str) -> Result<()> {
        run(Command::new("docker").args(["start", &self.container(service)?]))?;
        Ok(())
    }

    /// `docker kill` of a service's container.
    pub fn kill(&self, service: &str) -> Result<()> {
        run(Command::new("docker").args(["kill", &self.container(service)?]))?;
        Ok(())
    }

    /// A service's log (stdout and stderr).
    pub fn logs(&self, service: &str) -> String {
        self.compose(&["logs", "--no-color", service])
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "--volumes", "--remove-orphans", "--timeout", "2"]);
    }
}

/// A Docker network the test creates (`docker network create`), removed when dropped.
pub struct Network {
    /// The network's name.
    pub name: String,
}

impl Network {
    /// Creates the network `name`.
    pub fn create(name: &str) -> Result<Network> {
        run(Command::new("docker").args(["network", "create", name]))?;
        Ok(Network {
            name: name.to_string(),
        })
    }

    /// The network's gateway address: the machine running the test, as the containers on
    /// this network reach it.
    pub fn gateway(&self) -> Result<String> {
        let out = run(Command::new("docker").args([
            "network",
            "inspect",
            &self.name,
            "--format",
            "{{(index .IPAM.Config 0).Gateway}}",
        ]))?;
        let gw = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if gw.is_empty() {
            bail!("network {} has no gateway address", self.name);
        }
        Ok(gw)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["network", "rm", &self.name])
            .output();
    }
}
