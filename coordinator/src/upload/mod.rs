//! `storage.google_cloud_storage` and `storage.simple_storage_service`: the run directory,
//! once written, uploaded to the buckets the profile names, each file under
//! `<path>/<report_file_prefix><run id>/<its path in the run directory>`. The buckets and the
//! credentials are checked before the first stage, so that a run never ends unable to store
//! its results; a failed upload fails the run (its files stay in the run directory).
//!
//! Like inference-perf, an object that is already there is not written again.

mod aws_env;
mod gcs;
pub(crate) mod google_auth;
pub(crate) mod http;
mod s3;
mod sigv4;
mod store;
#[cfg(test)]
mod tests;

use fleetbench_model::clock::compact_utc;
use fleetbench_profile::StorageConfig;
use http::Http;
use std::path::Path;
use std::time::Duration;
use store::{Failure, ObjectStore, Put};

/// One bucket and where in it the run goes.
#[derive(Debug)]
struct Target {
    /// The profile's key: `storage.google_cloud_storage` or `storage.simple_storage_service`.
    key: &'static str,
    store: Box<dyn ObjectStore>,
    /// `path`, `{timestamp}` filled, without leading or trailing `/`; may be empty.
    path: String,
    /// `report_file_prefix`.
    prefix: String,
}

/// The buckets a run is uploaded to (none when the profile names none).
#[derive(Debug, Default)]
pub(crate) struct Uploads {
    targets: Vec<Target>,
}

/// Tries of a request that got no answer or a 5xx/429 answer.
const TRIES: u32 = 3;

impl Uploads {
    /// The profile's buckets, with endpoints and credentials from the environment; no network.
    /// `start_unix_s` fills `{timestamp}` and inference-perf's default `reports-<time>` path.
    pub(crate) fn from_profile(
        storage: Option<&StorageConfig>,
        start_unix_s: i64,
    ) -> Result<Uploads, String> {
        Uploads::from_vars(storage, start_unix_s, &|k| std::env::var(k).ok())
    }

    fn from_vars(
        storage: Option<&StorageConfig>,
        start_unix_s: i64,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Uploads, String> {
        let mut targets = Vec::new();
        let Some(s) = storage else {
            return Ok(Uploads { targets });
        };
        let path = |p: &Option<String>| {
            let p = p
                .clone()
                .unwrap_or_else(|| format!("reports-{}", compact_utc(start_unix_s)));
            (fleetbench_profile::fill_timestamp(&p, start_unix_s).trim_matches('/')).to_string()
        };
        if let Some(g) = &s.google_cloud_storage {
            let store = gcs::Gcs::new(&g.bucket_name, var)
                .map_err(|e| format!("storage.google_cloud_storage: {e}"))?;
            targets.push(Target {
                key: "storage.google_cloud_storage",
                store: Box::new(store),
                path: path(&g.path),
                prefix: g.report_file_prefix.clone().unwrap_or_default(),
            });
        }
        if let Some(c) = &s.simple_storage_service {
            let store =
                s3::S3::new(c, var).map_err(|e| format!("storage.simple_storage_service: {e}"))?;
            targets.push(Target {
                key: "storage.simple_storage_service",
                store: Box::new(store),
                path: path(&c.path),
                prefix: c.report_file_prefix.clone().unwrap_or_default(),
            });
        }
        Ok(Uploads { targets })
    }

    /// No bucket to upload to.
    pub(crate) fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Each bucket is there and the credentials reach it (a token is fetched, the bucket
    /// looked up); blocking.
    pub(crate) fn check(&self) -> Result<(), String> {
        let http = client();
        for t in &self.targets {
            let checked = retried(|| t.store.session(&http))
                .and_then(|auth| retried(|| t.store.check(&http, &auth)));
            checked.map_err(|e| format!("{}: {e}", t.key))?;
        }
        Ok(())
    }

    /// Uploads every file of `dir` (the run directory, named `run`) to every bucket; one line
    /// per bucket of what was done. Blocking.
    pub(crate) fn upload_dir(&self, dir: &Path, run: &str) -> Result<Vec<String>, String> {
        let files = crate::store::run_files(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let http = client();
        let sent = self.targets.iter().map(|t| {
            t.upload(&http, dir, run, &files)
                .map_err(|e| format!("{}: {e}", t.key))
        });
        sent.collect()
    }
}

/// A profile submitted to `serve` uploads with the coordinator's credentials: only to the
/// buckets the operator named (`allowed`), and only through the endpoints the coordinator's own
/// environment gives (an `endpoint_url` of the submitter would receive signed requests and a
/// session token).
pub(crate) fn admit_submitted(
    profile: &fleetbench_profile::Profile,
    allowed: &[String],
) -> Result<(), String> {
    let Some(s) = &profile.storage else {
        return Ok(());
    };
    let buckets = [
        (
            "storage.google_cloud_storage",
            s.google_cloud_storage.as_ref().map(|g| &g.bucket_name),
        ),
        (
            "storage.simple_storage_service",
            s.simple_storage_service.as_ref().map(|c| &c.bucket_name),
        ),
    ];
    for (key, bucket) in buckets {
        if let Some(b) = bucket.filter(|b| !allowed.contains(b)) {
            return Err(format!(
                "{key}.bucket_name: {b:?} is not a bucket this coordinator uploads submitted runs to (its operator names them with serve --storage-bucket; allowed: {allowed:?})"
            ));
        }
    }
    if s.simple_storage_service
        .as_ref()
        .is_some_and(|c| c.endpoint_url.is_some())
    {
        return Err("storage.simple_storage_service.endpoint_url: not taken from a submitted profile (the coordinator's AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL names the store); leave it out".into());
    }
    Ok(())
}

impl Target {
    /// Uploads `files` of `dir` under `<path>/<prefix><run>/`; what was done, in a line.
    fn upload(
        &self,
        http: &Http,
        dir: &Path,
        run: &str,
        files: &[String],
    ) -> Result<String, String> {
        let auth = retried(|| self.store.session(http))?;
        let (mut sent, mut bytes, mut skipped) = (0, 0u64, 0);
        for rel in files {
            let key = self.key(run, rel);
            let path = dir.join(rel);
            let put = retried(|| self.store.put(http, &auth, &key, &path, content_type(rel)))
                .map_err(|e| format!("{e} ({sent} of {} files were uploaded)", files.len()))?;
            match put {
                Put::Written(len) => {
                    sent += 1;
                    bytes += len;
                }
                Put::AlreadyThere => {
                    tracing::info!("skipping upload: {} already exists", self.store.url(&key));
                    skipped += 1;
                }
            }
        }
        let mut line = format!(
            "{sent} files ({bytes} bytes) to {}",
            self.store.url(&self.key(run, ""))
        );
        if skipped > 0 {
            line += &format!(", {skipped} already there and left as they were");
        }
        Ok(line)
    }

    /// `<path>/<prefix><run>/<rel>`.
    fn key(&self, run: &str, rel: &str) -> String {
        let dir = format!("{}{run}/{rel}", self.prefix);
        if self.path.is_empty() {
            dir
        } else {
            format!("{}/{dir}", self.path)
        }
    }
}

fn client() -> Http {
    Http::new(Duration::from_secs(10), Duration::from_secs(300))
}

/// `f` again (after 1 s, then 2 s) while it failed with no answer or a 5xx/429 answer.
fn retried<T>(mut f: impl FnMut() -> Result<T, Failure>) -> Result<T, String> {
    let mut wait = Duration::from_secs(1);
    for _ in 1..TRIES {
        match f() {
            Err(e) if e.retry => {
                tracing::warn!("upload: {e}; trying again in {wait:?}");
                std::thread::sleep(wait);
                wait *= 2;
            }
            r => return r.map_err(|e| e.message),
        }
    }
    f().map_err(|e| e.message)
}

/// The `Content-Type` of a run file, by its extension.
fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "json" => "application/json",
        "jsonl" => "application/jsonl",
        "yaml" | "yml" => "application/yaml",
        "md" => "text/markdown; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "csv" => "text/csv",
        "txt" | "log" => "text/plain; charset=utf-8",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}
