//! Transport security of the control plane, both ends: the coordinator's listening side (TLS
//! from a certificate and key, mutual TLS with a client CA, the credentials [`crate::auth`]
//! checks, and the `--insecure` rules) and the client side of `coordinator submit` / `watch`
//! (TLS with the CA that signed the coordinator, an optional client certificate, the client
//! token on every call). rustls with the `ring` provider, through tonic.

use crate::auth::Authenticator;
use fleetbench_model::token::{Access, TokenError, Tokens, TOKEN_HEADER};
use fleetbench_proto::v1::control_client::ControlClient;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig,
};

/// Why the control plane's TLS or token setup failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate, key or CA file could not be read.
    #[error("{path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// A token is unusable.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The flags do not make a valid setup (the message says why).
    #[error("{0}")]
    Config(String),
    /// The gRPC transport refused the TLS configuration or the connection.
    #[error("{0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Installs rustls's `ring` provider as the process default (once; later calls do nothing).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How the coordinator listens: the flags of `serve` and `run`.
#[derive(Debug, Clone, Default)]
pub struct ListenSecurity {
    /// `--insecure`: plaintext, only where allowed.
    pub insecure: bool,
    /// The server certificate (PEM).
    pub tls_cert: Option<PathBuf>,
    /// Its key (PEM).
    pub tls_key: Option<PathBuf>,
    /// The CA of client certificates: mutual TLS when set.
    pub client_ca: Option<PathBuf>,
    /// Both roles' tokens (`--token-file` or `FLEETBENCH_TOKEN`).
    pub tokens: Option<Tokens>,
}

/// What [`ListenSecurity::prepare`] decided.
pub struct ServerSecurity {
    /// The server's TLS configuration; `None`: plaintext.
    pub tls: Option<ServerTlsConfig>,
    pub(crate) auth: Authenticator,
}

impl ListenSecurity {
    /// Checks the flags against each other and loads the files. Without `--insecure` the
    /// coordinator needs a certificate and key and at least one credential (a client CA or
    /// tokens); `--insecure` with a non-loopback `listen` is allowed, and warned about loudly.
    pub fn prepare(&self, listen: SocketAddr) -> Result<ServerSecurity, TlsError> {
        if let Some(t) = &self.tokens {
            for a in Access::ALL {
                t.require(
                    a,
                    "the coordinator's tokens (--token-file or FLEETBENCH_TOKEN)",
                )?;
            }
        }
        if self.insecure {
            if self.tls_cert.is_some() || self.tls_key.is_some() || self.client_ca.is_some() {
                return Err(TlsError::Config(
                    "--insecure serves plaintext: drop it, or drop --tls-cert, --tls-key and --client-ca".into(),
                ));
            }
            if !listen.ip().is_loopback() {
                warn_open(listen, self.tokens.is_some());
            }
            return Ok(ServerSecurity {
                tls: None,
                auth: Authenticator::new(self.tokens.clone(), false),
            });
        }
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Err(TlsError::Config(
                "the control plane needs TLS: pass --tls-cert FILE and --tls-key FILE (`coordinator certs` makes them), \
                 plus --client-ca FILE (mutual TLS) and/or --token-file FILE; or --insecure for plaintext on loopback"
                    .into(),
            ));
        };
        if self.client_ca.is_none() && self.tokens.is_none() {
            return Err(TlsError::Config(
                "TLS alone lets anyone who reaches the port in: pass --client-ca FILE (mutual TLS) and/or --token-file FILE (or FLEETBENCH_TOKEN)"
                    .into(),
            ));
        }
        let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(read(cert)?, read(key)?));
        if let Some(ca) = &self.client_ca {
            // A certificate that is presented must chain to the CA (else the handshake fails);
            // one that is missing is refused by the authenticator on the first call, with an
            // error both sides can read and log.
            tls = tls
                .client_ca_root(Certificate::from_pem(read(ca)?))
                .client_auth_optional(true);
        }
        Ok(ServerSecurity {
            tls: Some(tls),
            auth: Authenticator::new(self.tokens.clone(), self.client_ca.is_some()),
        })
    }
}

/// The loud warning of a plaintext control plane reachable from other hosts.
fn warn_open(listen: SocketAddr, tokens: bool) {
    let what = if tokens {
        "tokens travel in clear text and can be read by anyone on the network"
    } else {
        "ANYONE who reaches this port can make every agent send load to any URL and read every report"
    };
    let line = format!(
        "WARNING: --insecure on {listen}: the control plane is OPEN (plaintext, no TLS): {what}"
    );
    eprintln!("{}\n{line}\n{}", "!".repeat(80), "!".repeat(80));
    tracing::warn!("{line}");
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        path: path.to_path_buf(),
        error,
    })
}

/// How a client (`submit`, `watch`) reaches the coordinator.
#[derive(Debug, Clone, Default)]
pub struct DialSecurity {
    /// `--insecure`: plaintext to the coordinator.
    pub insecure: bool,
    /// The CA that signed the coordinator's certificate.
    pub ca_cert: Option<PathBuf>,
    /// This client's certificate and key, for mutual TLS.
    pub cert: Option<PathBuf>,
    /// The key of `cert` (PEM).
    pub key: Option<PathBuf>,
    /// The name the coordinator's certificate must carry (default: the address's host).
    pub server_name: Option<String>,
    /// The token sent on every call (the `client:` one).
    pub token: Option<String>,
}

/// Adds `authorization: Bearer TOKEN` to every call.
#[derive(Clone)]
pub struct BearerToken(Option<MetadataValue<tonic::metadata::Ascii>>);

impl BearerToken {
    /// The interceptor that sends `token` (none: no header).
    pub fn new(token: Option<&str>) -> Result<BearerToken, TlsError> {
        token
            .map(|t| {
                format!("Bearer {t}")
                    .parse()
                    .map_err(|_| TlsError::Config("the token is not printable ASCII".into()))
            })
            .transpose()
            .map(BearerToken)
    }
}

impl tonic::service::Interceptor for BearerToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert(TOKEN_HEADER, v.clone());
        }
        Ok(req)
    }
}

/// A control-plane client that sends its token on every call.
pub type Client = ControlClient<InterceptedService<Channel, BearerToken>>;

impl DialSecurity {
    /// Connects to `addr` (`HOST:PORT` or a URL).
    pub async fn connect(&self, addr: &str) -> Result<Client, TlsError> {
        let channel = self.endpoint(addr)?.connect().await?;
        Ok(ControlClient::with_interceptor(
            channel,
            BearerToken::new(self.token.as_deref())?,
        ))
    }

    fn endpoint(&self, addr: &str) -> Result<Endpoint, TlsError> {
        let host_port = addr.split_once("://").map_or(addr, |(_, rest)| rest);
        if self.insecure {
            return Ok(Endpoint::from_shared(format!("http://{host_port}"))?);
        }
        let Some(ca) = &self.ca_cert else {
            return Err(TlsError::Config(
                "TLS needs the CA that signed the coordinator's certificate: pass --ca-cert FILE (or --insecure for plaintext)".into(),
            ));
        };
        let host = host_of(host_port);
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(ca)?))
            .domain_name(self.server_name.clone().unwrap_or(host));
        match (&self.cert, &self.key) {
            (Some(c), Some(k)) => tls = tls.identity(Identity::from_pem(read(c)?, read(k)?)),
            (None, None) => {}
            _ => return Err(TlsError::Config("--cert and --key go together".into())),
        }
        Ok(Endpoint::from_shared(format!("https://{host_port}"))?.tls_config(tls)?)
    }
}

/// The host of `HOST:PORT` (`[::1]:7600` gives `::1`).
fn host_of(host_port: &str) -> String {
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen() -> SocketAddr {
        "127.0.0.1:7600".parse().unwrap()
    }

    #[test]
    fn without_insecure_or_certificates_the_error_names_the_flags() {
        let e = ListenSecurity::default()
            .prepare(listen())
            .err()
            .unwrap()
            .to_string();
        for flag in [
            "--tls-cert",
            "--tls-key",
            "--client-ca",
            "--token-file",
            "--insecure",
        ] {
            assert!(e.contains(flag), "{e}");
        }
    }

    #[test]
    fn insecure_refuses_certificates_and_needs_both_tokens() {
        let s = ListenSecurity {
            insecure: true,
            client_ca: Some("ca.pem".into()),
            ..Default::default()
        };
        assert!(s.prepare(listen()).is_err());
        let s = ListenSecurity {
            insecure: true,
            tokens: Some(Tokens::parse("agent:0123456789abcdef", "t").unwrap()),
            ..Default::default()
        };
        let e = s.prepare(listen()).err().unwrap().to_string();
        assert!(e.contains("no client token"), "{e}");
        let open = ListenSecurity {
            insecure: true,
            ..Default::default()
        };
        assert!(open.prepare(listen()).unwrap().auth.is_open());
    }

    #[test]
    fn host_of_strips_port_and_brackets() {
        assert_eq!(host_of("coord.example:7600"), "coord.example");
        assert_eq!(host_of("[::1]:7600"), "::1");
        assert_eq!(host_of("127.0.0.1:1"), "127.0.0.1");
    }
}
