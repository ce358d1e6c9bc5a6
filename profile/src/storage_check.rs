//! `storage`: the local folder and the buckets a run's directory is uploaded to, checked when
//! the profile is loaded (names, prefixes, URLs) so that a run never fails on them at its end.

use crate::error::ProfileError;
use crate::model::{BucketStorage, Profile, S3Storage};
use std::path::Path;

/// The longest `report_file_prefix`: it starts a run id (at most 64 bytes, 20 of them the time
/// and a random tag) and object names.
const MAX_PREFIX_LEN: usize = 40;
/// The longest `path` of a bucket (object names are at most 1,024 bytes in GCS and S3; the run
/// directory's own names take the rest).
const MAX_BUCKET_PATH_LEN: usize = 512;

/// Checks `storage` of `p`.
pub(super) fn validate_storage(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let Some(s) = &p.storage else {
        return Ok(());
    };
    let invalid = |key: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: key.to_string(),
        message,
    };
    if let Some(prefix) = s
        .local_storage
        .as_ref()
        .and_then(|l| l.report_file_prefix.as_deref())
    {
        check_prefix(prefix).map_err(|m| invalid("storage.local_storage.report_file_prefix", m))?;
    }
    if let Some(g) = &s.google_cloud_storage {
        check_bucket(g)
            .map_err(|(k, m)| invalid(&format!("storage.google_cloud_storage.{k}"), m))?;
    }
    if let Some(s3) = &s.simple_storage_service {
        check_s3(s3)
            .map_err(|(k, m)| invalid(&format!("storage.simple_storage_service.{k}"), m))?;
    }
    Ok(())
}

/// A prefix of run ids and object names: letters, digits, `.`, `_` and `-`, not starting with
/// `.`, at most [`MAX_PREFIX_LEN`] characters.
fn check_prefix(prefix: &str) -> Result<(), String> {
    let ok = prefix.len() <= MAX_PREFIX_LEN
        && !prefix.starts_with('.')
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{prefix:?}: at most {MAX_PREFIX_LEN} letters, digits, '.', '_' and '-', not starting with '.' (it starts the run's id, which names its directory and objects)"
        ))
    }
}

fn check_bucket(b: &BucketStorage) -> Result<(), (&'static str, String)> {
    check_bucket_parts(
        &b.bucket_name,
        b.path.as_deref(),
        b.report_file_prefix.as_deref(),
    )
}

fn check_s3(s: &S3Storage) -> Result<(), (&'static str, String)> {
    check_bucket_parts(
        &s.bucket_name,
        s.path.as_deref(),
        s.report_file_prefix.as_deref(),
    )?;
    if let Some(url) = &s.endpoint_url {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let host = rest.map(|r| r.split('/').next().unwrap_or(""));
        if host.is_none_or(|h| h.is_empty()) || url.contains(['?', '#', ' ']) {
            return Err((
                "endpoint_url",
                format!(
                    "{url:?}: an http:// or https:// URL of the S3-compatible store (no query)"
                ),
            ));
        }
    }
    if let Some(r) = &s.region_name {
        let ok = !r.is_empty()
            && r.len() <= 64
            && r.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err((
                "region_name",
                format!(
                    "{r:?}: a region name such as us-east-1 (lower-case letters, digits and '-')"
                ),
            ));
        }
    }
    Ok(())
}

/// A bucket name as both GCS and S3 take it: 3 to 222 lower-case letters, digits, `.`, `_`
/// and `-`, starting and ending with a letter or digit; a path without control characters.
fn check_bucket_parts(
    bucket: &str,
    path: Option<&str>,
    prefix: Option<&str>,
) -> Result<(), (&'static str, String)> {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok = (3..=222).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        && edge(bucket.chars().next())
        && edge(bucket.chars().last());
    if !ok {
        return Err((
            "bucket_name",
            format!("{bucket:?}: a bucket name, 3 to 222 lower-case letters, digits, '.', '_' and '-', starting and ending with a letter or digit"),
        ));
    }
    if let Some(p) = path {
        if p.len() > MAX_BUCKET_PATH_LEN || p.chars().any(char::is_control) {
            return Err((
                "path",
                format!("{p:?}: an object name prefix of at most {MAX_BUCKET_PATH_LEN} bytes, without control characters"),
            ));
        }
    }
    if let Some(p) = prefix {
        check_prefix(p).map_err(|m| ("report_file_prefix", m))?;
    }
    Ok(())
}

/// `path` with `{timestamp}` replaced by `unix_s` as inference-perf writes it
/// (`YYYYMMDD-HHMMSS`, here in UTC).
pub fn fill_timestamp(path: &str, unix_s: i64) -> String {
    path.replace("{timestamp}", &fleetbench_model::clock::compact_utc(unix_s))
}
