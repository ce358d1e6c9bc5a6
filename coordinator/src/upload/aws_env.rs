//! Where S3's settings come from besides the profile, in the order boto3 reads them for what
//! fleetbench supports: credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
//! `AWS_SESSION_TOKEN`, else the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
//! `~/.aws/credentials`, profile `AWS_PROFILE` else `default`); the region from the profile,
//! `AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`; the endpoint from the profile,
//! `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, else AWS's regional one.

use super::sigv4::AwsCredentials;
use std::path::PathBuf;

/// Credentials from the variables `var` gives, else the shared credentials file; the error
/// names what was tried.
pub(crate) fn credentials(var: &dyn Fn(&str) -> Option<String>) -> Result<AwsCredentials, String> {
    let set = |k: &str| var(k).filter(|v| !v.is_empty());
    if let (Some(id), Some(secret)) = (set("AWS_ACCESS_KEY_ID"), set("AWS_SECRET_ACCESS_KEY")) {
        return Ok(AwsCredentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: set("AWS_SESSION_TOKEN"),
        });
    }
    let file = set("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| set("HOME").map(|h| PathBuf::from(h).join(".aws/credentials")));
    let profile = set("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let tried = format!(
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, and {} has no profile [{profile}] with aws_access_key_id and aws_secret_access_key (fleetbench does not read web identity, container or instance credentials)",
        file.as_ref().map_or("no credentials file (HOME unset)".into(), |f| f.display().to_string())
    );
    let Some(text) = file.and_then(|f| std::fs::read_to_string(f).ok()) else {
        return Err(tried);
    };
    let section = ini_section(&text, &profile);
    let get = |k: &str| section.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Ok(AwsCredentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: get("aws_session_token"),
        }),
        _ => Err(tried),
    }
}

/// The `key = value` lines of `[name]` in an INI text.
fn ini_section(text: &str, name: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(head) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = head.trim() == name;
        } else if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
    }
    out
}

/// The region: the profile's, else `AWS_REGION`, `AWS_DEFAULT_REGION`, `us-east-1`.
pub(crate) fn region(given: Option<&str>, var: &dyn Fn(&str) -> Option<String>) -> String {
    given
        .map(str::to_string)
        .or_else(|| var("AWS_REGION").filter(|v| !v.is_empty()))
        .or_else(|| var("AWS_DEFAULT_REGION").filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "us-east-1".into())
}

/// A custom endpoint: the profile's, else `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`; `None`
/// for AWS's own.
pub(crate) fn endpoint(
    given: Option<&str>,
    var: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    given
        .map(str::to_string)
        .or_else(|| var("AWS_ENDPOINT_URL_S3").filter(|v| !v.is_empty()))
        .or_else(|| var("AWS_ENDPOINT_URL").filter(|v| !v.is_empty()))
        .map(|u| u.trim_end_matches('/').to_string())
}
