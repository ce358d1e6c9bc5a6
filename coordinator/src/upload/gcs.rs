//! Google Cloud Storage through its JSON API: the bucket looked up before the run (as
//! inference-perf does), then each object uploaded where none of its name is
//! (`uploadType=multipart`, `ifGenerationMatch=0`).
//! `STORAGE_EMULATOR_HOST` points it at an emulator, without credentials, as the Python client.

use super::google_auth::GoogleAuth;
use super::http::Http;
use super::sigv4::uri_encode;
use super::store::{open, Failure, ObjectStore, Put};
use fleetbench_model::clock::unix_s;
use std::io::{Cursor, Read};
use std::path::Path;

/// One bucket of Google Cloud Storage.
#[derive(Debug)]
pub(crate) struct Gcs {
    /// `https://storage.googleapis.com`, or the emulator's URL.
    base: String,
    bucket: String,
    /// `None` with an emulator.
    auth: Option<GoogleAuth>,
}

impl Gcs {
    /// The bucket, with the endpoint and credentials `var`'s environment names.
    pub(crate) fn new(bucket: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<Gcs, String> {
        if let Some(host) = var("STORAGE_EMULATOR_HOST").filter(|h| !h.is_empty()) {
            let base = if host.contains("://") {
                host
            } else {
                format!("http://{host}")
            };
            return Ok(Gcs {
                base: base.trim_end_matches('/').to_string(),
                bucket: bucket.into(),
                auth: None,
            });
        }
        Ok(Gcs {
            base: "https://storage.googleapis.com".into(),
            bucket: bucket.into(),
            auth: Some(GoogleAuth::from_env(var)?),
        })
    }
}

#[cfg(test)]
impl Gcs {
    /// Sends to `base` (a test's server) instead, keeping the credentials.
    pub(crate) fn set_base(&mut self, base: &str) {
        self.base = base.into();
    }
}

impl ObjectStore for Gcs {
    fn url(&self, key: &str) -> String {
        format!("gs://{}/{key}", self.bucket)
    }

    fn session(&self, http: &Http) -> Result<Vec<(String, String)>, Failure> {
        match &self.auth {
            None => Ok(Vec::new()),
            Some(a) => Ok(vec![(
                "Authorization".into(),
                format!("Bearer {}", a.token(http, unix_s())?),
            )]),
        }
    }

    fn check(&self, http: &Http, auth: &[(String, String)]) -> Result<(), Failure> {
        let url = format!(
            "{}/storage/v1/b/{}",
            self.base,
            uri_encode(&self.bucket, false)
        );
        let a = http.send("GET", &url, auth, &[])?;
        match a.status {
            200 => Ok(()),
            404 => Err(Failure::fatal(format!(
                "GCS bucket {:?} does not exist",
                self.bucket
            ))),
            403 => Err(Failure::fatal(format!(
                "GCS bucket {:?}: these credentials may not look it up (storage.buckets.get, which inference-perf needs too; e.g. roles/storage.objectAdmin or roles/storage.legacyBucketReader on the bucket): {}",
                self.bucket,
                a.excerpt()
            ))),
            s => Err(Failure::answered(
                s,
                format!(
                    "GCS bucket {:?}: {url} answered {s}: {}",
                    self.bucket,
                    a.excerpt()
                ),
            )),
        }
    }

    fn put(
        &self,
        http: &Http,
        auth: &[(String, String)],
        key: &str,
        file: &Path,
        content_type: &str,
    ) -> Result<Put, Failure> {
        // A multipart upload (the object's metadata, then its bytes), as Google's own clients
        // send an object in one request; `ifGenerationMatch=0` writes it only where no object
        // of that name is (else 412), in the same request, and needs no read permission.
        let url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=multipart&ifGenerationMatch=0",
            self.base,
            uri_encode(&self.bucket, false)
        );
        let (f, len) = open(file)?;
        let (boundary, head, tail) = multipart(key, content_type);
        let mut headers = auth.to_vec();
        headers.push((
            "Content-Type".into(),
            format!("multipart/related; boundary={boundary}"),
        ));
        let total = head.len() as u64 + len + tail.len() as u64;
        let body = Cursor::new(head)
            .chain(f.take(len))
            .chain(Cursor::new(tail));
        let a = http.send_reader("POST", &url, &headers, total, body)?;
        match a.status {
            200 | 201 => Ok(Put::Written(len)),
            412 => Ok(Put::AlreadyThere),
            s => Err(Failure::answered(
                s,
                format!("{} answered {s}: {}", self.url(key), a.excerpt()),
            )),
        }
    }
}

/// The boundary, and what goes before and after an object's bytes in a `multipart/related`
/// body of its metadata (`name`, `contentType`) and its bytes. The boundary holds 128 random
/// bits, so no file holds it but by a chance of 2^-128 per position.
pub(crate) fn multipart(key: &str, content_type: &str) -> (String, Vec<u8>, Vec<u8>) {
    let boundary = format!("fleetbench-{:032x}", rand::random::<u128>());
    let meta = serde_json::json!({"name": key, "contentType": content_type});
    let head = format!(
        "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    (boundary, head.into_bytes(), tail.into_bytes())
}
