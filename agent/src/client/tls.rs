//! TLS to HTTPS endpoints: rustls with the `ring` provider, SNI (and certificate check) from the
//! URL's host, ALPN offering what the profile's `api.http_version` allows.
//!
//! Trusted roots: Mozilla's root programme compiled in (`webpki-roots`), so that the agent works
//! the same in a `FROM scratch` container without a system certificate store; or, with the
//! agent's `--endpoint-ca FILE`, only the CAs of that PEM file (a private CA, a gateway's
//! self-signed certificate).
//!
//! Client identity (mutual TLS): the profile's `server.cert_path`/`key_path`, PEM files read on
//! the agent's own host when its stage's client is made.

use fleetbench_model::settings::{ClientCert, HttpVersion};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::RootCertStore;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsConnector;

/// A CA file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The `--endpoint-ca` file at `path` cannot be read or holds no certificate (`message` says
    /// which).
    #[error("--endpoint-ca {path}: {message}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The profile's `server.cert_path`/`key_path` on this agent's host.
    #[error("server.{key} {path} (client certificate, read on this agent's host): {message}")]
    ClientCert {
        /// `cert_path` or `key_path`.
        key: &'static str,
        /// The file named there.
        path: String,
        /// What is wrong with it.
        message: String,
    },
}

/// The roots the agent trusts for HTTPS endpoints; read once at start-up.
#[derive(Debug, Clone)]
pub struct EndpointTrust {
    roots: Arc<RootCertStore>,
}

impl Default for EndpointTrust {
    /// Mozilla's roots (`webpki-roots`).
    fn default() -> Self {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        EndpointTrust {
            roots: Arc::new(roots),
        }
    }
}

impl EndpointTrust {
    /// Only the CA certificates of a PEM file.
    pub fn from_ca_file(path: &Path) -> Result<EndpointTrust, TrustError> {
        let bad = |message: String| TrustError::CaFile {
            path: path.display().to_string(),
            message,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("no PEM certificate in the file".into()));
        }
        let mut roots = RootCertStore::empty();
        for c in certs {
            roots
                .add(c)
                .map_err(|e| bad(format!("not a usable CA certificate: {e}")))?;
        }
        Ok(EndpointTrust {
            roots: Arc::new(roots),
        })
    }

    /// A connector offering, by ALPN, the HTTP versions `version` allows, presenting the
    /// client certificate when the profile names one.
    pub(crate) fn connector(
        &self,
        version: HttpVersion,
        client: Option<&ClientCert>,
    ) -> Result<TlsConnector, TrustError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(self.roots.clone());
        let mut config = match client {
            None => builder.with_no_client_auth(),
            Some(c) => {
                let (chain, key) = read_identity(c)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| TrustError::ClientCert {
                        key: "key_path",
                        path: c.key_path.clone(),
                        message: format!("does not go with the certificate: {e}"),
                    })?
            }
        };
        config.alpn_protocols = match version {
            HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
            HttpVersion::Http2 => vec![b"h2".to_vec()],
        };
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

/// The certificate chain and private key of a client identity.
fn read_identity(
    c: &ClientCert,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TrustError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&c.cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TrustError::ClientCert {
            key: "cert_path",
            path: c.cert_path.clone(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TrustError::ClientCert {
            key: "cert_path",
            path: c.cert_path.clone(),
            message: "no PEM certificate in the file".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(&c.key_path).map_err(|e| TrustError::ClientCert {
        key: "key_path",
        path: c.key_path.clone(),
        message: e.to_string(),
    })?;
    Ok((chain, key))
}

/// How a pool reaches an HTTPS endpoint: the connector and the name its certificate must carry.
#[derive(Clone)]
pub(crate) struct TlsTarget {
    pub(crate) connector: TlsConnector,
    pub(crate) name: ServerName<'static>,
}

impl std::fmt::Debug for TlsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTarget")
            .field("name", &self.name)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_named() {
        let dir = std::env::temp_dir().join(format!("fb-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("empty.pem");
        std::fs::write(&f, "not a certificate\n").unwrap();
        let e = EndpointTrust::from_ca_file(&f).unwrap_err().to_string();
        assert!(
            e.contains("empty.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        let missing = dir.join("missing.pem");
        let e = EndpointTrust::from_ca_file(&missing)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.pem"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
