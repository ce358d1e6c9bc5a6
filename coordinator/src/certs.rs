//! `coordinator certs`: a certificate authority, the coordinator's server certificate and one
//! client certificate per agent and per client (rcgen), plus fresh tokens, for first-time users
//! and tests. A client certificate's subject names its holder (CN) and role (OU: `agent` or
//! `client`), which is what the coordinator reads under mutual TLS ([`crate::auth`]).
//!
//! Files in the output directory: `ca.pem` + `ca.key`, `server.pem` + `server.key`,
//! `agent-NAME.pem` + `.key`, `client-NAME.pem` + `.key`, `tokens` (both tokens, for the
//! coordinator), `agent.token` and `client.token` (one each). Keys and tokens are written with
//! mode 0600.

use fleetbench_model::token::{Access, Tokens};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// Why `coordinator certs` could not write a credential set.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    /// Generating a key or certificate failed.
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// A file could not be written.
    #[error("{path}: {error}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The write's error.
        error: std::io::Error,
    },
    /// An agent or client name that cannot be a file or certificate name.
    #[error("{0:?} is not a usable name: use letters, digits, '-', '_' and '.'")]
    BadName(String),
    /// Any other unusable input (the message says which).
    #[error("{0}")]
    Input(String),
}

/// What to issue.
#[derive(Debug, Clone)]
pub struct CertsRequest {
    /// DNS names and IP addresses the coordinator is reached at.
    pub hosts: Vec<String>,
    /// Agent names: one certificate (and token) each.
    pub agents: Vec<String>,
    /// Client names (`submit`, `watch`, `runs`): one certificate each.
    pub clients: Vec<String>,
    /// Days the server and client certificates are valid (the CA: five times as long).
    pub days: u32,
}

/// Writes the CA, the server, agent and client certificates and the tokens into `out`; returns
/// the files written.
pub fn write_certs(out: &Path, req: &CertsRequest) -> Result<Vec<PathBuf>, CertsError> {
    if req.hosts.is_empty() {
        return Err(CertsError::Input(
            "--hosts names no host: the server certificate needs at least one".into(),
        ));
    }
    for name in req.agents.iter().chain(&req.clients) {
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok {
            return Err(CertsError::BadName(name.clone()));
        }
    }
    std::fs::create_dir_all(out).map_err(|error| CertsError::Write {
        path: out.to_path_buf(),
        error,
    })?;
    let mut files = Vec::new();
    let mut write = |name: &str, text: &str, secret: bool| -> Result<(), CertsError> {
        let path = out.join(name);
        write_file(&path, text, secret).map_err(|error| CertsError::Write {
            path: path.clone(),
            error,
        })?;
        files.push(path);
        Ok(())
    };
    let now = OffsetDateTime::now_utc();
    let valid = |params: &mut CertificateParams, days: u32| {
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(i64::from(days));
    };

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "fleetbench control-plane CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    valid(&mut ca, req.days.saturating_mul(5));
    write("ca.key", &ca_key.serialize_pem(), true)?;
    let ca = CertifiedIssuer::self_signed(ca, ca_key)?;
    write("ca.pem", &ca.pem(), false)?;

    let key = KeyPair::generate()?;
    let mut server = CertificateParams::new(req.hosts.clone())?;
    server
        .distinguished_name
        .push(DnType::CommonName, "fleetbench coordinator");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    valid(&mut server, req.days);
    let cert = server.signed_by(&key, &*ca)?;
    write("server.pem", &cert.pem(), false)?;
    write("server.key", &key.serialize_pem(), true)?;

    for (access, names) in [(Access::Agent, &req.agents), (Access::Client, &req.clients)] {
        for name in names {
            let key = KeyPair::generate()?;
            let mut p = CertificateParams::new(Vec::<String>::new())?;
            p.distinguished_name.push(DnType::CommonName, name.as_str());
            p.distinguished_name
                .push(DnType::OrganizationalUnitName, access.name());
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            valid(&mut p, req.days);
            let cert = p.signed_by(&key, &*ca)?;
            write(&format!("{access}-{name}.pem"), &cert.pem(), false)?;
            write(&format!("{access}-{name}.key"), &key.serialize_pem(), true)?;
        }
    }

    let tokens = Tokens::generate();
    write("tokens", &tokens.to_file_text(), true)?;
    for access in Access::ALL {
        write(
            &format!("{access}.token"),
            &tokens.only(access).to_file_text(),
            true,
        )?;
    }
    Ok(files)
}

/// Writes `text` to `path`; a secret is created with mode 0600 (never readable by others, not
/// even for an instant).
fn write_file(path: &Path, text: &str, secret: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(if secret { 0o600 } else { 0o644 });
        let mut f = opts.open(path)?;
        // An existing file keeps its mode on open: set it.
        if secret {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(text.as_bytes())
    }
    #[cfg(not(unix))]
    {
        let _ = secret;
        opts.open(path)?.write_all(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_every_file_with_secret_modes_and_identities() {
        let dir = std::env::temp_dir().join(format!("fleetbench-certs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let files = write_certs(
            &dir,
            &CertsRequest {
                hosts: vec!["localhost".into(), "127.0.0.1".into()],
                agents: vec!["a".into(), "b".into()],
                clients: vec!["me".into()],
                days: 30,
            },
        )
        .unwrap();
        assert_eq!(files.len(), 2 + 2 + 2 * 2 + 2 + 3);
        #[cfg(unix)]
        for f in &files {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
            let name = f.file_name().unwrap().to_string_lossy();
            let secret = name.ends_with(".key") || name.contains("token");
            assert_eq!(mode, if secret { 0o600 } else { 0o644 }, "{name}");
        }
        let pem = std::fs::read(dir.join("agent-b.pem")).unwrap();
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::CertificateDer::from_pem_slice(&pem).unwrap();
        assert_eq!(
            crate::auth::cert_identity(der.as_ref()).unwrap(),
            (Access::Agent, "b".to_string())
        );
        let tokens = Tokens::read_file(&dir.join("tokens")).unwrap();
        assert!(tokens.get(Access::Agent).is_some() && tokens.get(Access::Client).is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn refuses_names_that_are_not_plain() {
        let e = write_certs(
            Path::new("/nonexistent"),
            &CertsRequest {
                hosts: vec!["localhost".into()],
                agents: vec!["a/../b".into()],
                clients: vec![],
                days: 1,
            },
        );
        assert!(matches!(e, Err(CertsError::BadName(_))));
    }
}
