//! `sim serve --tls-cert/--tls-key`: HTTPS with rustls (the `ring` provider), offering HTTP/2
//! and HTTP/1.1 by ALPN, so that the agent's TLS and HTTP/2 paths are tested against a real
//! server.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// A certificate or key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("--tls-cert {path}: {message}")]
    Cert { path: String, message: String },
    #[error("--tls-key {path}: {message}")]
    Key { path: String, message: String },
    #[error("--tls-client-ca {path}: {message}")]
    ClientCa { path: String, message: String },
    #[error("--tls-cert/--tls-key: {0}")]
    Config(#[from] rustls::Error),
}

/// The TLS side of the accept loop: a rustls acceptor offering `h2` and `http/1.1`.
#[derive(Clone)]
pub(crate) struct SimTls(pub TlsAcceptor);

impl std::fmt::Debug for SimTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimTls")
    }
}

impl SimTls {
    /// Reads the PEM certificate chain and private key; with `client_ca`, every client must
    /// present a certificate that CA signed (mutual TLS, as an endpoint behind a zero-trust
    /// gateway asks).
    pub(crate) fn load(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Result<SimTls, TlsError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TlsError::Cert {
                path: cert.display().to_string(),
                message: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(TlsError::Cert {
                path: cert.display().to_string(),
                message: "no certificate in the file".into(),
            });
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
            path: key.display().to_string(),
            message: e.to_string(),
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => builder.with_client_cert_verifier(client_verifier(ca, provider)?),
        };
        let mut config = builder.with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(SimTls(TlsAcceptor::from(Arc::new(config))))
    }
}

/// A verifier accepting client certificates that the CAs of `path` signed.
fn client_verifier(
    path: &Path,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let bad = |message: String| TlsError::ClientCa {
        path: path.display().to_string(),
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
        roots
            .add(c.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in the file".into()));
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| bad(e.to_string()))
}
