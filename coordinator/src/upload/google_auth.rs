//! Google's Application Default Credentials, in the order the Python client reads them, for
//! what fleetbench supports: `GOOGLE_APPLICATION_CREDENTIALS` (a service account key, signed
//! into a JWT with RS256, or an `authorized_user` refresh token), gcloud's
//! `application_default_credentials.json` (`CLOUDSDK_CONFIG`, else `~/.config/gcloud`), else
//! the metadata server of GCE and GKE (`GCE_METADATA_HOST`, else `metadata.google.internal`).
//! Used for the buckets (`storage.google_cloud_storage`) and for Managed Prometheus
//! (`crate::prom_gmp`), each with its own scope.

use super::http::{form, Http};
use super::store::Failure;
use base64::Engine;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde::Deserialize;
use std::path::PathBuf;

/// Read and write objects (what `google-cloud-storage` asks for).
pub(crate) const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_write";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// Where an access token comes from.
#[derive(Debug)]
pub(crate) enum GoogleAuth {
    /// A service account's key: a JWT signed with its private key, exchanged at `token_uri`.
    ServiceAccount {
        file: PathBuf,
        email: String,
        /// The key's `project_id`.
        project_id: Option<String>,
        key_id: Option<String>,
        key: Vec<u8>,
        token_uri: String,
    },
    /// A user's refresh token (`gcloud auth application-default login`).
    AuthorizedUser {
        file: PathBuf,
        client_id: String,
        client_secret: String,
        refresh_token: String,
        token_uri: String,
    },
    /// The metadata server's token for the machine's (or pod's) service account.
    Metadata { host: String },
}

#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
    project_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
}

impl GoogleAuth {
    /// The credentials `var`'s environment points at; no network yet.
    pub(crate) fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<GoogleAuth, String> {
        let set = |k: &str| var(k).filter(|v| !v.is_empty());
        if let Some(file) = set("GOOGLE_APPLICATION_CREDENTIALS") {
            return GoogleAuth::from_file(PathBuf::from(file), "GOOGLE_APPLICATION_CREDENTIALS");
        }
        let gcloud = set("CLOUDSDK_CONFIG")
            .map(PathBuf::from)
            .or_else(|| set("HOME").map(|h| PathBuf::from(h).join(".config/gcloud")));
        if let Some(file) = gcloud.map(|d| d.join("application_default_credentials.json")) {
            if file.is_file() {
                return GoogleAuth::from_file(file, "gcloud's application default credentials");
            }
        }
        Ok(GoogleAuth::Metadata {
            host: set("GCE_METADATA_HOST").unwrap_or_else(|| "metadata.google.internal".into()),
        })
    }

    fn from_file(file: PathBuf, what: &str) -> Result<GoogleAuth, String> {
        let at = |m: String| format!("{} ({what}): {m}", file.display());
        let text = std::fs::read_to_string(&file).map_err(|e| at(e.to_string()))?;
        let k: KeyFile = serde_json::from_str(&text).map_err(|e| at(e.to_string()))?;
        let missing = |key: &str| at(format!("no `{key}`"));
        let token_uri = k.token_uri.unwrap_or_else(|| DEFAULT_TOKEN_URI.into());
        match k.kind.as_str() {
            "service_account" => {
                let pem = k.private_key.ok_or_else(|| missing("private_key"))?;
                let key = pem_der(&pem).ok_or_else(|| at("`private_key` is not a PEM PKCS#8 key".into()))?;
                RsaKeyPair::from_pkcs8(&key)
                    .map_err(|e| at(format!("`private_key`: not an RSA key ring can use: {e}")))?;
                Ok(GoogleAuth::ServiceAccount {
                    email: k.client_email.ok_or_else(|| missing("client_email"))?,
                    project_id: k.project_id,
                    key_id: k.private_key_id,
                    key,
                    token_uri,
                    file,
                })
            }
            "authorized_user" => Ok(GoogleAuth::AuthorizedUser {
                client_id: k.client_id.ok_or_else(|| missing("client_id"))?,
                client_secret: k.client_secret.ok_or_else(|| missing("client_secret"))?,
                refresh_token: k.refresh_token.ok_or_else(|| missing("refresh_token"))?,
                token_uri,
                file,
            }),
            other => Err(at(format!(
                "credentials of type {other:?} are not supported (service_account and authorized_user are; on GCE or GKE leave GOOGLE_APPLICATION_CREDENTIALS unset to use the metadata server)"
            ))),
        }
    }

    /// An access token for the buckets, fetched now.
    pub(crate) fn token(&self, http: &Http, now_unix_s: i64) -> Result<String, Failure> {
        self.token_for(http, now_unix_s, SCOPE)
    }

    /// An access token for `scope`, fetched now (a service account asks for the scope; the
    /// metadata server and a user's refresh token give the scopes they were granted).
    pub(crate) fn token_for(
        &self,
        http: &Http,
        now_unix_s: i64,
        scope: &str,
    ) -> Result<String, Failure> {
        let (url, headers, body, what) = match self {
            GoogleAuth::ServiceAccount { file, email, key_id, key, token_uri, .. } => {
                let jwt = signed_jwt(email, key_id.as_deref(), key, token_uri, scope, now_unix_s)
                    .map_err(|e| Failure::fatal(format!("{}: {e}", file.display())))?;
                let body = form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", &jwt),
                ]);
                (token_uri.clone(), form_headers(), body, format!("service account {email}"))
            }
            GoogleAuth::AuthorizedUser { file, client_id, client_secret, refresh_token, token_uri } => {
                let body = form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", client_id),
                    ("client_secret", client_secret),
                    ("refresh_token", refresh_token),
                ]);
                (token_uri.clone(), form_headers(), body, format!("the user credentials of {}", file.display()))
            }
            GoogleAuth::Metadata { host } => (
                format!("http://{host}/computeMetadata/v1/instance/service-accounts/default/token"),
                vec![("Metadata-Flavor".into(), "Google".into())],
                String::new(),
                format!("the metadata server {host} (no GOOGLE_APPLICATION_CREDENTIALS, no gcloud credentials file)"),
            ),
        };
        let method = if body.is_empty() { "GET" } else { "POST" };
        let answer = (http.send(method, &url, &headers, body.as_bytes()))
            .map_err(|e| format!("no access token from {what}: {e}"))?;
        if answer.status != 200 {
            return Err(Failure::answered(
                answer.status,
                format!(
                    "no access token from {what}: {url} answered {}: {}",
                    answer.status,
                    answer.excerpt()
                ),
            ));
        }
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
        }
        let t: Token = serde_json::from_str(&answer.body)
            .map_err(|e| Failure::fatal(format!("no access token from {what}: {url}: {e}")))?;
        Ok(t.access_token)
    }
}

impl GoogleAuth {
    /// The project these credentials belong to, as `google.auth.default()` finds it:
    /// `GOOGLE_CLOUD_PROJECT` (or the older `GCLOUD_PROJECT`), else a service account key's
    /// `project_id`, else the metadata server's project.
    pub(crate) fn project_id(
        &self,
        http: &Http,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, String> {
        let set = |k: &str| var(k).filter(|v| !v.is_empty());
        if let Some(p) = set("GOOGLE_CLOUD_PROJECT").or_else(|| set("GCLOUD_PROJECT")) {
            return Ok(p);
        }
        match self {
            GoogleAuth::ServiceAccount {
                project_id: Some(p),
                ..
            } => Ok(p.clone()),
            GoogleAuth::Metadata { host } => {
                let url = format!("http://{host}/computeMetadata/v1/project/project-id");
                let flavor = [("Metadata-Flavor".to_string(), "Google".to_string())];
                match http.send("GET", &url, &flavor, b"") {
                    Ok(a) if a.status == 200 && !a.body.trim().is_empty() => {
                        Ok(a.body.trim().to_string())
                    }
                    Ok(a) => Err(format!("no project from the metadata server: {url} answered {}: {}; set GOOGLE_CLOUD_PROJECT", a.status, a.excerpt())),
                    Err(e) => Err(format!("no project from the metadata server {host}: {e}; set GOOGLE_CLOUD_PROJECT")),
                }
            }
            _ => Err("the credentials name no project: set GOOGLE_CLOUD_PROJECT".into()),
        }
    }
}

fn form_headers() -> Vec<(String, String)> {
    vec![(
        "Content-Type".into(),
        "application/x-www-form-urlencoded".into(),
    )]
}

/// The DER bytes of a PEM block.
fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = (pem.lines().map(str::trim))
        .filter(|l| !l.starts_with("-----") && !l.is_empty())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// The JWT a service account sends for a token: RS256 over its claims, valid an hour.
pub(crate) fn signed_jwt(
    email: &str,
    key_id: Option<&str>,
    pkcs8: &[u8],
    audience: &str,
    scope: &str,
    now_unix_s: i64,
) -> Result<String, String> {
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = key_id {
        header["kid"] = kid.into();
    }
    let claims = serde_json::json!({
        "iss": email, "scope": scope, "aud": audience,
        "iat": now_unix_s, "exp": now_unix_s + 3600,
    });
    let input = format!("{}.{}", b64(&header), b64(&claims));
    let kp = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| format!("private key: {e}"))?;
    let mut sig = vec![0; kp.public().modulus_len()];
    kp.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .map_err(|e| format!("signing the token request: {e}"))?;
    Ok(format!(
        "{input}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
    ))
}
