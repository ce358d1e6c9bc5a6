//! How the client commands (`submit`, `watch`, `preflight`, `runs`, `fetch`) reach a running
//! coordinator: the dial flags and the connection they give.

use anyhow::Context;
use fleetbench_coordinator::tls::{Client, DialSecurity};
use fleetbench_model::token::{Access, Tokens};
use std::path::PathBuf;

/// How `submit` and `watch` reach the coordinator.
#[derive(clap::Args, Clone)]
pub(crate) struct DialArgs {
    /// Plaintext to the coordinator, without TLS.
    #[arg(long)]
    pub(crate) insecure: bool,
    /// The CA that signed the coordinator's certificate (PEM), e.g. ca.pem of `coordinator certs`.
    #[arg(long, env = "FLEETBENCH_CA_CERT")]
    pub(crate) ca_cert: Option<PathBuf>,
    /// This client's certificate (PEM), for a coordinator with --client-ca.
    #[arg(long)]
    pub(crate) cert: Option<PathBuf>,
    /// The key of --cert (PEM).
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    /// The name the coordinator's certificate carries (default: the host of --coordinator).
    #[arg(long)]
    pub(crate) tls_server_name: Option<String>,
    /// A file with the client token (`client:SECRET`); default: FLEETBENCH_TOKEN.
    #[arg(long, env = "FLEETBENCH_TOKEN_FILE")]
    pub(crate) token_file: Option<PathBuf>,
}

impl DialArgs {
    /// The TLS and token settings these flags give.
    pub(crate) fn security(&self) -> anyhow::Result<DialSecurity> {
        let tokens = Tokens::from_file_or_env(self.token_file.as_deref())?;
        let token = match &tokens {
            Some(t) => Some(
                t.require(
                    Access::Client,
                    "the client's token (--token-file or FLEETBENCH_TOKEN)",
                )?
                .to_string(),
            ),
            None => None,
        };
        Ok(DialSecurity {
            insecure: self.insecure,
            ca_cert: self.ca_cert.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            server_name: self.tls_server_name.clone(),
            token,
        })
    }
}

/// A client of the coordinator at `coordinator`, reached as `dial` says.
pub(crate) async fn connect(coordinator: &str, dial: &DialSecurity) -> anyhow::Result<Client> {
    dial.connect(coordinator)
        .await
        .with_context(|| format!("connect to the coordinator at {coordinator}"))
}
