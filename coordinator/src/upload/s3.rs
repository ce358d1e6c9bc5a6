//! S3 and S3-compatible stores through the REST API, signed with Signature Version 4: the
//! bucket checked before the run (`HEAD`), then each object checked (`HEAD`) and uploaded
//! (`PUT`), as inference-perf's boto3 client does.

use super::aws_env;
use super::http::{Answer, Http};
use super::sigv4::{self, AwsCredentials};
use super::store::{open, Failure, ObjectStore, Put};
use fleetbench_profile::{AddressingStyle, S3Storage};
use std::io::{Read, Seek};
use std::path::Path;

/// One S3 bucket.
#[derive(Debug)]
pub(crate) struct S3 {
    bucket: String,
    region: String,
    /// `http[s]://host[:port]` of the requests, with the bucket in it (virtual-hosted style) or
    /// not (path style).
    origin: String,
    /// `""`, or `/<bucket>` in path style.
    bucket_path: String,
    creds: AwsCredentials,
}

impl S3 {
    /// The bucket, with the endpoint, region and credentials of the profile and `var`'s
    /// environment.
    pub(crate) fn new(cfg: &S3Storage, var: &dyn Fn(&str) -> Option<String>) -> Result<S3, String> {
        let region = aws_env::region(cfg.region_name.as_deref(), var);
        let custom = aws_env::endpoint(cfg.endpoint_url.as_deref(), var);
        let bucket = cfg.bucket_name.clone();
        let virtual_ok = !bucket.contains('.');
        let style = cfg.addressing_style.unwrap_or(AddressingStyle::Auto);
        let virtual_host = match style {
            AddressingStyle::Virtual => true,
            AddressingStyle::Path => false,
            AddressingStyle::Auto => custom.is_none() && virtual_ok,
        };
        let base = custom.unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let (scheme, host) = base
            .split_once("://")
            .ok_or_else(|| format!("S3 endpoint {base:?}: not an http(s) URL"))?;
        let host = host.split('/').next().unwrap_or(host);
        let (origin, bucket_path) = if virtual_host {
            (format!("{scheme}://{bucket}.{host}"), String::new())
        } else {
            (
                format!("{scheme}://{host}"),
                format!("/{}", sigv4::uri_encode(&bucket, false)),
            )
        };
        Ok(S3 {
            creds: aws_env::credentials(var)?,
            bucket,
            region,
            origin,
            bucket_path,
        })
    }

    /// Sends `method` on `key` (`None`: the bucket), signed, without a body.
    fn send(&self, http: &Http, method: &str, key: Option<&str>) -> Result<Answer, String> {
        let (url, headers) = self.signed(method, key, &sigv4::sha256_hex(b""), None);
        http.send(method, &url, &headers, &[])
    }

    /// The URL and the signed headers of `method` on `key` (`None`: the bucket) with a payload
    /// of SHA-256 `payload_hash`.
    fn signed(
        &self,
        method: &str,
        key: Option<&str>,
        payload_hash: &str,
        content_type: Option<&str>,
    ) -> (String, Vec<(String, String)>) {
        let path = match key {
            Some(k) => format!("{}/{}", self.bucket_path, sigv4::uri_encode(k, true)),
            None if self.bucket_path.is_empty() => "/".into(),
            None => self.bucket_path.clone(),
        };
        let host = self.origin.split_once("://").map_or("", |(_, h)| h);
        let amz_date = amz_date(fleetbench_model::clock::unix_s());
        let mut headers = vec![
            ("host".to_string(), host.to_string()),
            ("x-amz-content-sha256".into(), payload_hash.to_string()),
            ("x-amz-date".into(), amz_date.clone()),
        ];
        if let Some(t) = &self.creds.session_token {
            headers.push(("x-amz-security-token".into(), t.clone()));
        }
        if let Some(ct) = content_type {
            headers.push(("content-type".into(), ct.into()));
        }
        let req = sigv4::Request {
            method,
            path: &path,
            query: &[],
            headers: &headers,
            payload_hash,
        };
        let auth = sigv4::authorization(&req, &self.creds, &amz_date, &self.region, "s3");
        headers.push(("authorization".into(), auth));
        (format!("{}{path}", self.origin), headers)
    }
}

/// `YYYYMMDDTHHMMSSZ` of `unix_s`.
pub(crate) fn amz_date(unix_s: i64) -> String {
    let t = fleetbench_model::clock::utc(unix_s);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

impl ObjectStore for S3 {
    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn session(&self, _: &Http) -> Result<Vec<(String, String)>, Failure> {
        Ok(Vec::new())
    }

    fn check(&self, http: &Http, _: &[(String, String)]) -> Result<(), Failure> {
        let a = self.send(http, "HEAD", None)?;
        let at = format!("S3 bucket {:?} at {}", self.bucket, self.origin);
        let message = match a.status {
            200 => return Ok(()),
            404 => format!("{at} does not exist"),
            301 | 400 if a.header("x-amz-bucket-region").is_some() => format!(
                "{at}: the bucket is in region {}, not {} (set storage.simple_storage_service.region_name)",
                a.header("x-amz-bucket-region").unwrap_or(""),
                self.region
            ),
            403 => format!(
                "{at}: access denied to key {} (check the credentials and the bucket's policy)",
                self.creds.access_key_id
            ),
            s => format!("{at} answered {s}"),
        };
        Err(Failure::answered(a.status, message))
    }

    fn put(
        &self,
        http: &Http,
        _: &[(String, String)],
        key: &str,
        file: &Path,
        content_type: &str,
    ) -> Result<Put, Failure> {
        // As inference-perf: only a 200 to HEAD means the object is there; anything else
        // uploads it.
        if self.send(http, "HEAD", Some(key))?.status == 200 {
            return Ok(Put::AlreadyThere);
        }
        let (mut f, len) = open(file)?;
        if len > MAX_PUT_BYTES {
            return Err(Failure::fatal(format!(
                "{}: {len} bytes, more than the {MAX_PUT_BYTES} one S3 PUT takes (multipart uploads are not implemented)",
                file.display()
            )));
        }
        let hash =
            sha256_of(&mut f).map_err(|e| Failure::fatal(format!("{}: {e}", file.display())))?;
        let (url, headers) = self.signed("PUT", Some(key), &hash, Some(content_type));
        let a = http.send_reader("PUT", &url, &headers, len, f.take(len))?;
        match a.status {
            200 => Ok(Put::Written(len)),
            s => Err(Failure::answered(
                s,
                format!("{} answered {s}: {}", self.url(key), a.excerpt()),
            )),
        }
    }
}

/// The most one S3 `PUT` takes: 5 GiB.
const MAX_PUT_BYTES: u64 = 5 << 30;

/// Hex SHA-256 of `f`'s bytes, read in blocks; `f` is left at its start again, to be sent.
fn sha256_of(f: &mut std::fs::File) -> std::io::Result<String> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    f.rewind()?;
    Ok(sigv4::hex(ctx.finish().as_ref()))
}
