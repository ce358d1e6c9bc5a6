//! Who is calling, and what they may do. The [`Authenticator`] is a tonic interceptor that runs
//! before every RPC: it checks the shared token (constant-time, against both roles' tokens) and,
//! under mutual TLS, reads the client certificate's identity; it refuses a caller with no valid
//! credential and leaves a [`Caller`] in the request's extensions. Each RPC then asks
//! [`require`] for the role it needs: `Join` an agent credential, `Submit`, `Watch` and
//! `GetReport` a client credential.
//!
//! A certificate's identity is its subject: the common name is the agent's (or client's) name,
//! the organizational unit its role (`agent` or `client`), as `coordinator certs` issues them.

use fleetbench_model::token::{Access, Tokens, TOKEN_HEADER};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// What the caller proved. Under `--insecure` without tokens, everything is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    agent: bool,
    client: bool,
    /// The name in the client certificate, under mutual TLS.
    pub(crate) cert_name: Option<String>,
}

/// The credentials the coordinator checks on every RPC.
#[derive(Clone, Default)]
pub(crate) struct Authenticator {
    tokens: Option<Arc<Tokens>>,
    /// Client certificates are required and carry the caller's role.
    mutual_tls: bool,
}

impl Authenticator {
    /// `tokens` must hold both roles' tokens when given.
    pub(crate) fn new(tokens: Option<Tokens>, mutual_tls: bool) -> Authenticator {
        Authenticator {
            tokens: tokens.map(Arc::new),
            mutual_tls,
        }
    }

    /// Whether any credential is checked at all.
    #[cfg(test)]
    pub(crate) fn is_open(&self) -> bool {
        self.tokens.is_none() && !self.mutual_tls
    }

    fn authenticate<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        let mut caller = Caller {
            agent: true,
            client: true,
            cert_name: None,
        };
        if let Some(tokens) = &self.tokens {
            let presented = req
                .metadata()
                .get(TOKEN_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    Status::unauthenticated(
                        "no token: this coordinator needs a token (agent: --token-file or FLEETBENCH_TOKEN)",
                    )
                })?;
            match token_role(tokens, presented) {
                Some(Access::Agent) => caller.client = false,
                Some(Access::Client) => caller.agent = false,
                None => return Err(Status::unauthenticated("wrong token")),
            }
        }
        if self.mutual_tls {
            let certs = req.peer_certs().ok_or_else(|| {
                Status::unauthenticated("no client certificate (mutual TLS is required)")
            })?;
            let leaf = certs
                .first()
                .ok_or_else(|| Status::unauthenticated("empty client certificate chain"))?;
            let (access, name) = cert_identity(leaf.as_ref()).map_err(Status::unauthenticated)?;
            match access {
                Access::Agent => caller.client = false,
                Access::Client => caller.agent = false,
            }
            caller.cert_name = Some(name);
        }
        if !caller.agent && !caller.client {
            return Err(Status::permission_denied(
                "the token and the certificate are of different roles",
            ));
        }
        Ok(caller)
    }
}

impl Interceptor for Authenticator {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        match self.authenticate(&req) {
            Ok(caller) => {
                req.extensions_mut().insert(caller);
                Ok(req)
            }
            Err(status) => {
                let peer = req
                    .remote_addr()
                    .map_or("unknown peer".to_string(), |a| a.to_string());
                tracing::warn!(%peer, "refused a call: {}", status.message());
                Err(status)
            }
        }
    }
}

/// The caller of `req` if it may act as `access`; the refusal otherwise.
pub(crate) fn require<T>(req: &Request<T>, access: Access) -> Result<Caller, Status> {
    let caller = req.extensions().get::<Caller>().cloned().ok_or_else(|| {
        Status::internal("the request was not authenticated (no interceptor ran)")
    })?;
    let allowed = match access {
        Access::Agent => caller.agent,
        Access::Client => caller.client,
    };
    if allowed {
        Ok(caller)
    } else {
        let (what, needed) = match access {
            Access::Agent => ("joining", "an agent"),
            Access::Client => ("submitting, watching and reading reports", "a client"),
        };
        tracing::warn!(
            peer = ?req.remote_addr(),
            "refused: {what} needs {needed} credential"
        );
        Err(Status::permission_denied(format!(
            "{what} needs {needed} credential; this one is not"
        )))
    }
}

/// The role of `presented` among `tokens`, compared in constant time with every token.
fn token_role(tokens: &Tokens, presented: &str) -> Option<Access> {
    let mut found = None;
    for access in Access::ALL {
        if let Some(t) = tokens.get(access) {
            // Unequal lengths compare unequal at once; the length of a token is no secret.
            if bool::from(t.as_bytes().ct_eq(presented.as_bytes())) {
                found = Some(access);
            }
        }
    }
    found
}

/// A certificate's role (its subject's OU) and name (its CN).
pub(crate) fn cert_identity(der: &[u8]) -> Result<(Access, String), String> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("unreadable client certificate: {e}"))?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_string)
        .ok_or("the client certificate has no common name (CN)")?;
    let role = subject
        .iter_organizational_unit()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or_default()
        .to_string();
    let access = match role.as_str() {
        "agent" => Access::Agent,
        "client" => Access::Client,
        other => {
            return Err(format!(
            "the client certificate of {name} names role {other:?} (OU); expected agent or client"
        ))
        }
    };
    Ok((access, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::parse(
            "agent:aaaaaaaaaaaaaaaaaaaa\nclient:cccccccccccccccccccc",
            "t",
        )
        .unwrap()
    }

    fn request(token: Option<&str>) -> Request<()> {
        let mut r = Request::new(());
        if let Some(t) = token {
            r.metadata_mut()
                .insert(TOKEN_HEADER, format!("Bearer {t}").parse().unwrap());
        }
        r
    }

    #[test]
    fn a_token_grants_its_role_only() {
        let mut auth = Authenticator::new(Some(tokens()), false);
        let r = auth
            .call(request(Some("agent:aaaaaaaaaaaaaaaaaaaa")))
            .unwrap();
        assert!(require(&r, Access::Agent).is_ok());
        let e = require(&r, Access::Client).unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        let r = auth
            .call(request(Some("client:cccccccccccccccccccc")))
            .unwrap();
        assert!(require(&r, Access::Client).is_ok());
        assert!(require(&r, Access::Agent).is_err());
    }

    #[test]
    fn no_or_wrong_token_is_refused_before_any_rpc() {
        let mut auth = Authenticator::new(Some(tokens()), false);
        for t in [None, Some("agent:aaaaaaaaaaaaaaaaaaab"), Some("agent:aaa")] {
            let e = auth.call(request(t)).unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unauthenticated, "{t:?}");
        }
    }

    #[test]
    fn open_without_credentials_and_mtls_needs_a_certificate() {
        let mut open = Authenticator::default();
        assert!(open.is_open());
        let r = open.call(request(None)).unwrap();
        assert!(require(&r, Access::Agent).is_ok() && require(&r, Access::Client).is_ok());
        let mut mtls = Authenticator::new(None, true);
        let e = mtls.call(request(None)).unwrap_err();
        assert!(e.message().contains("no client certificate"));
    }
}
