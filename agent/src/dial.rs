//! How the agent reaches the coordinator: TLS with the CA that signed the coordinator's
//! certificate (and this agent's own certificate under mutual TLS), or plaintext with
//! `--insecure`; the agent token (`agent:SECRET`) on every call. rustls with the `ring` provider,
//! through tonic.

use fleetbench_model::token::TOKEN_HEADER;
use fleetbench_proto::v1::control_client::ControlClient;
use std::path::{Path, PathBuf};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// The files and token the agent dials with.
#[derive(Debug, Clone, Default)]
pub struct DialConfig {
    /// Plain TCP (`--insecure`): no TLS to the coordinator.
    pub insecure: bool,
    /// The CA that signed the coordinator's certificate (PEM).
    pub ca_cert: Option<PathBuf>,
    /// This agent's certificate and key (PEM), for mutual TLS.
    pub cert: Option<PathBuf>,
    /// The key of `cert` (PEM).
    pub key: Option<PathBuf>,
    /// The name the coordinator's certificate carries (default: the address's host).
    pub server_name: Option<String>,
    /// `agent:SECRET`, sent on every call.
    pub token: Option<String>,
}

/// The endpoint and token of a [`DialConfig`], files read once at start-up.
#[derive(Clone)]
pub struct Dialer {
    endpoint: Endpoint,
    token: Option<MetadataValue<Ascii>>,
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialer")
            .field("uri", self.endpoint.uri())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A control-plane client that sends the agent's token on every call.
pub(crate) type Client = ControlClient<InterceptedService<Channel, AgentToken>>;

/// Adds `authorization: Bearer TOKEN` to a call.
#[derive(Clone)]
pub(crate) struct AgentToken(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for AgentToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert(TOKEN_HEADER, v.clone());
        }
        Ok(req)
    }
}

impl Dialer {
    /// Checks the configuration and reads its files; `addr` is `HOST:PORT` or a URL.
    pub fn new(addr: &str, cfg: &DialConfig) -> anyhow::Result<Dialer> {
        use anyhow::{bail, Context};
        let host_port = addr.split_once("://").map_or(addr, |(_, rest)| rest);
        let token = cfg
            .token
            .as_ref()
            .map(|t| format!("Bearer {t}").parse())
            .transpose()
            .context("the token is not printable ASCII")?;
        let endpoint = if cfg.insecure {
            Endpoint::from_shared(format!("http://{host_port}"))?
        } else {
            let Some(ca) = &cfg.ca_cert else {
                bail!("TLS to the coordinator needs the CA that signed its certificate: pass --ca-cert FILE (or --insecure for plaintext)");
            };
            let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let mut tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(read(ca)?))
                .domain_name(cfg.server_name.clone().unwrap_or_else(|| host.to_string()));
            match (&cfg.cert, &cfg.key) {
                (Some(c), Some(k)) => tls = tls.identity(Identity::from_pem(read(c)?, read(k)?)),
                (None, None) => {}
                _ => bail!("--cert and --key go together"),
            }
            Endpoint::from_shared(format!("https://{host_port}"))?.tls_config(tls)?
        };
        Ok(Dialer { endpoint, token })
    }

    /// Opens a connection.
    pub(crate) async fn connect(&self) -> Result<Client, tonic::transport::Error> {
        let channel = self.endpoint.connect().await?;
        Ok(ControlClient::with_interceptor(
            channel,
            AgentToken(self.token.clone()),
        ))
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    std::fs::read(path).with_context(|| format!("read {}", path.display()))
}
