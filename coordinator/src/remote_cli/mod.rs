//! The client side of remote use of a running `coordinator serve`: `preflight` (the checks
//! before a long run), `runs` (its runs) and `fetch` (a run's directory), each authenticated
//! like `submit` and `watch`.

pub mod fetch;
pub mod preflight;
pub mod runs;

/// The coordinator's address and how to reach it, as every remote command takes them.
#[derive(clap::Args, Clone)]
pub struct Remote {
    /// The coordinator's address, HOST:PORT.
    #[arg(long, env = "FLEETBENCH_COORDINATOR")]
    pub coordinator: String,
    #[command(flatten)]
    pub dial: crate::dial_cli::DialArgs,
}

/// The command that downloads `run_id` from `coordinator` as `dial` reaches it (credentials
/// from files or the environment are not repeated).
pub fn fetch_command(run_id: &str, coordinator: &str, dial: &crate::dial_cli::DialArgs) -> String {
    let mut cmd = format!("coordinator fetch {run_id} --coordinator {coordinator} --out .");
    if dial.insecure {
        cmd.push_str(" --insecure");
    }
    if let Some(ca) = &dial.ca_cert {
        cmd.push_str(&format!(" --ca-cert {}", ca.display()));
    }
    if let (Some(cert), Some(key)) = (&dial.cert, &dial.key) {
        cmd.push_str(&format!(
            " --cert {} --key {}",
            cert.display(),
            key.display()
        ));
    }
    if let Some(name) = &dial.tls_server_name {
        cmd.push_str(&format!(" --tls-server-name {name}"));
    }
    if let Some(f) = &dial.token_file {
        cmd.push_str(&format!(" --token-file {}", f.display()));
    }
    cmd
}
