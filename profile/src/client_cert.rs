//! `server.cert_path` / `server.key_path` (inference-perf's keys): the client certificate an
//! agent presents to an HTTPS endpoint that asks for one (mutual TLS). The paths name files on
//! every agent's host — as inference-perf reads them on its own host — and are never read by
//! the coordinator, so no private key travels over the control plane.

use crate::error::ProfileError;
use crate::model::Profile;
use fleetbench_model::settings::ClientCert;
use serde_norway::Value;
use std::path::Path;

/// The profile's client certificate, if it names one: both keys strings, an `https://`
/// endpoint, a key only with a certificate.
pub fn client_cert(p: &Profile, file: &Path) -> Result<Option<ClientCert>, ProfileError> {
    let invalid = |key: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: key.to_string(),
        message,
    };
    let text = |key: &str, v: &Option<Value>| -> Result<Option<String>, ProfileError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(other) => Err(invalid(
                key,
                format!("must be a file path (a non-empty string), got {other:?}"),
            )),
        }
    };
    let cert = text("server.cert_path", &p.server.cert_path)?;
    let key = text("server.key_path", &p.server.key_path)?;
    let Some(cert_path) = cert else {
        return match key {
            Some(_) => Err(invalid(
                "server.key_path",
                "needs server.cert_path (the certificate that goes with the key)".into(),
            )),
            None => Ok(None),
        };
    };
    if !p.server.base_url.starts_with("https://") {
        return Err(invalid(
            "server.cert_path",
            format!(
                "a client certificate is presented over TLS only: server.base_url must be https://, got {:?}",
                p.server.base_url
            ),
        ));
    }
    Ok(Some(ClientCert {
        key_path: key.unwrap_or_else(|| cert_path.clone()),
        cert_path,
    }))
}
