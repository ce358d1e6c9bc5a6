//! AWS Signature Version 4 for S3 requests (the `Authorization` header), as AWS's "Signature
//! Version 4 signing process" describes it: canonical request, string to sign, signing key
//! derived by HMAC-SHA256 from the secret, date, region and service.

use ring::{digest, hmac};

/// Credentials that sign a request.
#[derive(Clone)]
pub(crate) struct AwsCredentials {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    /// `x-amz-security-token` (temporary credentials).
    pub(crate) session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// One request to sign: the headers must already hold `host`, `x-amz-date` and
/// `x-amz-content-sha256` (and any other header to be signed).
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    /// The path as sent (already URI-encoded).
    pub(crate) path: &'a str,
    /// `(name, value)` query pairs, already URI-encoded.
    pub(crate) query: &'a [(String, String)],
    /// `(lower-case name, value)`.
    pub(crate) headers: &'a [(String, String)],
    /// Hex SHA-256 of the body (or `UNSIGNED-PAYLOAD`).
    pub(crate) payload_hash: &'a str,
}

/// Lower-case hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// AWS's URI encoding: every byte but `A-Z a-z 0-9 - _ . ~` as `%XX` (upper-case), and `/`
/// too unless `keep_slash`.
pub(crate) fn uri_encode(s: &str, keep_slash: bool) -> String {
    use fleetbench_profile::percent_encode;
    if keep_slash {
        s.split('/')
            .map(percent_encode)
            .collect::<Vec<_>>()
            .join("/")
    } else {
        percent_encode(s)
    }
}

/// The `Authorization` header's value for `req`, signed at `amz_date` (`YYYYMMDDTHHMMSSZ`)
/// in `region` for `service`.
pub(crate) fn authorization(
    req: &Request<'_>,
    creds: &AwsCredentials,
    amz_date: &str,
    region: &str,
    service: &str,
) -> String {
    let mut headers: Vec<(String, String)> = (req.headers.iter())
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    headers.sort();
    let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    let signed = signed.join(";");
    let mut query = req.query.to_vec();
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let canonical = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed}\n{}",
        req.method,
        req.path,
        query.join("&"),
        req.payload_hash
    );
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let mac = |key: &[u8], data: &str| {
        let k = hmac::Key::new(hmac::HMAC_SHA256, key);
        hmac::sign(&k, data.as_bytes()).as_ref().to_vec()
    };
    let k = mac(format!("AWS4{}", creds.secret_access_key).as_bytes(), date);
    let k = mac(&k, region);
    let k = mac(&k, service);
    let k = mac(&k, "aws4_request");
    let signature = hex(&mac(&k, &to_sign));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
        creds.access_key_id
    )
}
