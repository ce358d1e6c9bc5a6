//! The signatures against botocore's, the service account's JWT against its public key, the
//! settings each variable gives, and whole uploads against local servers that answer as GCS's
//! JSON API, Google's token endpoint and S3 do.

use super::google_auth::{signed_jwt, GoogleAuth};
use super::sigv4::{authorization, sha256_hex, AwsCredentials, Request};
use super::*;
use base64::Engine;
use fleetbench_profile::{AddressingStyle, BucketStorage, S3Storage};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = (pairs.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| m.get(k).cloned()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fleetbench-upload-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn test_key_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/storage/service-account.json")
}

/// AWS's "GET Object" example of Signature Version 4, and a PUT with a session token on a
/// path-style endpoint with a port; the signatures are what botocore 1.x's `S3SigV4Auth`
/// computes for the same requests.
#[test]
fn signatures_match_botocore() {
    let creds = AwsCredentials {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        session_token: None,
    };
    let empty = sha256_hex(b"");
    let headers = [
        (
            "host".to_string(),
            "examplebucket.s3.amazonaws.com".to_string(),
        ),
        ("range".into(), "bytes=0-9".into()),
        ("x-amz-content-sha256".into(), empty.clone()),
        ("x-amz-date".into(), "20130524T000000Z".into()),
    ];
    let req = Request {
        method: "GET",
        path: "/test.txt",
        query: &[],
        headers: &headers,
        payload_hash: &empty,
    };
    let auth = authorization(&req, &creds, "20130524T000000Z", "us-east-1", "s3");
    assert_eq!(
        auth,
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );

    let creds = AwsCredentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: Some("session-token-xyz".into()),
    };
    let body = b"{\"a\": 1}\n";
    let hash = sha256_hex(body);
    let headers = [
        ("content-type".to_string(), "application/json".to_string()),
        ("host".into(), "127.0.0.1:9000".into()),
        ("x-amz-content-sha256".into(), hash.clone()),
        ("x-amz-date".into(), "20261203T103005Z".into()),
        ("x-amz-security-token".into(), "session-token-xyz".into()),
    ];
    let path = format!(
        "/my-bucket/{}",
        sigv4::uri_encode("reports/run 1/stage-0/réport.json", true)
    );
    assert_eq!(path, "/my-bucket/reports/run%201/stage-0/r%C3%A9port.json");
    let req = Request {
        method: "PUT",
        path: &path,
        query: &[],
        headers: &headers,
        payload_hash: &hash,
    };
    let auth = authorization(&req, &creds, "20261203T103005Z", "eu-west-3", "s3");
    assert!(
        auth.ends_with("SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=8629599f56883da75fa17441eca4fd85580e4b0a9c2524db39b5092aef38a5b3"),
        "{auth}"
    );
}

/// The JWT's parts: its header and claims as Google's token endpoint reads them, and its
/// RS256 signature valid under the key's public half.
fn verify_jwt(jwt: &str, public_key: &[u8]) -> serde_json::Value {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (input, sig) = jwt.rsplit_once('.').expect("three parts");
    let sig = b64.decode(sig).unwrap();
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        public_key,
    )
    .verify(input.as_bytes(), &sig)
    .expect("the JWT's signature verifies with the service account's public key");
    let (header, claims) = input.split_once('.').unwrap();
    let header: serde_json::Value = serde_json::from_slice(&b64.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], "test-key-1");
    serde_json::from_slice(&b64.decode(claims).unwrap()).unwrap()
}

fn public_key_of_test_account() -> Vec<u8> {
    let GoogleAuth::ServiceAccount { key, .. } = GoogleAuth::from_env(&vars(&[(
        "GOOGLE_APPLICATION_CREDENTIALS",
        test_key_file().to_str().unwrap(),
    )]))
    .unwrap() else {
        panic!("a service account");
    };
    use ring::signature::KeyPair;
    let kp = ring::signature::RsaKeyPair::from_pkcs8(&key).unwrap();
    kp.public_key().as_ref().to_vec()
}

#[test]
fn a_service_account_signs_its_token_request() {
    let auth = GoogleAuth::from_env(&vars(&[(
        "GOOGLE_APPLICATION_CREDENTIALS",
        test_key_file().to_str().unwrap(),
    )]))
    .unwrap();
    let GoogleAuth::ServiceAccount {
        email,
        key_id,
        key,
        token_uri,
        ..
    } = &auth
    else {
        panic!("{auth:?}");
    };
    let jwt = signed_jwt(
        email,
        key_id.as_deref(),
        key,
        token_uri,
        google_auth::SCOPE,
        1_700_000_000,
    )
    .unwrap();
    let claims = verify_jwt(&jwt, &public_key_of_test_account());
    assert_eq!(
        claims["iss"],
        "uploader@fleetbench-test.iam.gserviceaccount.com"
    );
    assert_eq!(claims["aud"], "http://127.0.0.1:1/token");
    assert_eq!(claims["scope"], google_auth::SCOPE);
    assert_eq!(claims["iat"], 1_700_000_000);
    assert_eq!(claims["exp"], 1_700_003_600);
}

#[test]
fn google_credentials_are_found_as_the_python_client_finds_them() {
    // gcloud's file under CLOUDSDK_CONFIG, else HOME's.
    let home = scratch("gcloud");
    let gcloud = home.join(".config/gcloud");
    std::fs::create_dir_all(&gcloud).unwrap();
    std::fs::write(
        gcloud.join("application_default_credentials.json"),
        r#"{"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"}"#,
    )
    .unwrap();
    let a = GoogleAuth::from_env(&vars(&[("HOME", home.to_str().unwrap())])).unwrap();
    assert!(
        matches!(&a, GoogleAuth::AuthorizedUser { token_uri, .. } if token_uri == "https://oauth2.googleapis.com/token"),
        "{a:?}"
    );
    // Nothing: the metadata server (GCE_METADATA_HOST when set).
    let a = GoogleAuth::from_env(&vars(&[("HOME", "/nonexistent")])).unwrap();
    assert!(
        matches!(&a, GoogleAuth::Metadata { host } if host == "metadata.google.internal"),
        "{a:?}"
    );
    let a = GoogleAuth::from_env(&vars(&[("GCE_METADATA_HOST", "127.0.0.1:8080")])).unwrap();
    assert!(
        matches!(&a, GoogleAuth::Metadata { host } if host == "127.0.0.1:8080"),
        "{a:?}"
    );
    // Another type of key file: named, with what works instead.
    let f = home.join("ext.json");
    std::fs::write(&f, r#"{"type": "external_account", "audience": "x"}"#).unwrap();
    let e = GoogleAuth::from_env(&vars(&[(
        "GOOGLE_APPLICATION_CREDENTIALS",
        f.to_str().unwrap(),
    )]))
    .unwrap_err();
    assert!(
        e.contains("ext.json")
            && e.contains("\"external_account\"")
            && e.contains("service_account"),
        "{e}"
    );
    // A missing file is named.
    let e = GoogleAuth::from_env(&vars(&[(
        "GOOGLE_APPLICATION_CREDENTIALS",
        "/nonexistent/key.json",
    )]))
    .unwrap_err();
    assert!(
        e.contains("/nonexistent/key.json") && e.contains("GOOGLE_APPLICATION_CREDENTIALS"),
        "{e}"
    );
}

/// Uploads to the one bucket `store`, under `path` with `prefix`.
fn one_bucket(
    store: Box<dyn ObjectStore>,
    path: impl Into<String>,
    prefix: impl Into<String>,
) -> Uploads {
    Uploads {
        targets: vec![Target {
            key: "storage.x",
            store,
            path: path.into(),
            prefix: prefix.into(),
        }],
    }
}

fn s3_config(endpoint: Option<&str>, style: Option<AddressingStyle>) -> S3Storage {
    S3Storage {
        bucket_name: "results-bucket".into(),
        path: Some("bench/{timestamp}".into()),
        report_file_prefix: Some("llama-".into()),
        endpoint_url: endpoint.map(String::from),
        region_name: None,
        addressing_style: style,
    }
}

#[test]
fn s3_settings_come_from_the_profile_then_the_environment() {
    let keys = [
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
    ];
    let s = format!(
        "{:?}",
        s3::S3::new(&s3_config(None, None), &vars(&keys)).unwrap()
    );
    assert!(
        s.contains("origin: \"https://results-bucket.s3.us-east-1.amazonaws.com\"")
            && s.contains("bucket_path: \"\""),
        "{s}"
    );
    assert!(!s.contains("secret"), "the secret stays out of Debug: {s}");
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all = keys.to_vec();
        all.extend_from_slice(extra);
        vars(&all)
    };
    let s = format!(
        "{:?}",
        s3::S3::new(
            &s3_config(None, None),
            &with(&[
                ("AWS_DEFAULT_REGION", "eu-west-1"),
                ("AWS_REGION", "ap-south-1")
            ])
        )
        .unwrap()
    );
    assert!(
        s.contains("s3.ap-south-1.amazonaws.com") && s.contains("region: \"ap-south-1\""),
        "{s}"
    );
    // A custom endpoint is addressed path style unless told otherwise.
    let s = format!(
        "{:?}",
        s3::S3::new(
            &s3_config(None, None),
            &with(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/")])
        )
        .unwrap()
    );
    assert!(
        s.contains("origin: \"http://127.0.0.1:9000\"")
            && s.contains("bucket_path: \"/results-bucket\""),
        "{s}"
    );
    let s = format!(
        "{:?}",
        s3::S3::new(
            &s3_config(
                Some("https://minio.example:9000"),
                Some(AddressingStyle::Virtual)
            ),
            &vars(&keys)
        )
        .unwrap()
    );
    assert!(
        s.contains("origin: \"https://results-bucket.minio.example:9000\""),
        "{s}"
    );
    let s = format!(
        "{:?}",
        s3::S3::new(&s3_config(None, Some(AddressingStyle::Path)), &vars(&keys)).unwrap()
    );
    assert!(
        s.contains("origin: \"https://s3.us-east-1.amazonaws.com\"")
            && s.contains("bucket_path: \"/results-bucket\""),
        "{s}"
    );
    // The shared credentials file, profile AWS_PROFILE.
    let home = scratch("aws");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/credentials"),
        "[default]\naws_access_key_id = D\naws_secret_access_key = d\n\n[ci]\naws_access_key_id=CI\naws_secret_access_key=ci\naws_session_token = t\n",
    )
    .unwrap();
    let h = home.to_str().unwrap();
    let s = format!(
        "{:?}",
        s3::S3::new(
            &s3_config(None, None),
            &vars(&[("HOME", h), ("AWS_PROFILE", "ci")])
        )
        .unwrap()
    );
    assert!(s.contains("access_key_id: \"CI\""), "{s}");
    let e = s3::S3::new(
        &s3_config(None, None),
        &vars(&[("HOME", h), ("AWS_PROFILE", "other")]),
    )
    .unwrap_err();
    assert!(
        e.contains("AWS_ACCESS_KEY_ID") && e.contains(".aws/credentials") && e.contains("[other]"),
        "{e}"
    );
}

#[test]
fn object_keys_follow_path_prefix_and_run_directory() {
    let cfg = StorageConfig {
        local_storage: None,
        google_cloud_storage: Some(BucketStorage {
            bucket_name: "gb".into(),
            path: None,
            report_file_prefix: None,
        }),
        simple_storage_service: Some(s3_config(Some("http://127.0.0.1:9"), None)),
    };
    let env = vars(&[
        ("STORAGE_EMULATOR_HOST", "127.0.0.1:9"),
        ("AWS_ACCESS_KEY_ID", "a"),
        ("AWS_SECRET_ACCESS_KEY", "b"),
    ]);
    // 2026-12-03 10:30:05 UTC.
    let u = Uploads::from_vars(Some(&cfg), 1_796_293_805, &env).unwrap();
    let keys: Vec<String> = u
        .targets
        .iter()
        .map(|t| t.key("20261203-103005-ab12", "stage-0/report.json"))
        .collect();
    assert_eq!(
        keys,
        [
            "reports-20261203-103005/20261203-103005-ab12/stage-0/report.json",
            "bench/20261203-103005/llama-20261203-103005-ab12/stage-0/report.json",
        ]
    );
    assert_eq!(content_type("stage-0/report.json"), "application/json");
    assert_eq!(
        content_type("snapshots/stage-0.pb"),
        "application/octet-stream"
    );
}

/// One request a mock server received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

type Handler = dyn Fn(&Seen) -> (u16, String) + Send + Sync;

/// A local HTTP/1.1 server answering each request with `handler` (one connection at a time,
/// `Connection: close`); what it received is kept.
fn serve(handler: Box<Handler>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (method, target) = (
                parts.next().unwrap_or("").to_string(),
                parts.next().unwrap_or("").to_string(),
            );
            let mut headers = HashMap::new();
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
            let len: usize = headers
                .get("content-length")
                .map_or(0, |v| v.parse().unwrap());
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let s = Seen {
                method,
                target,
                headers,
                body,
            };
            let (status, text) = handler(&s);
            log.lock().unwrap().push(s);
            let mut c = conn;
            let _ = write!(
                c,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (addr, seen)
}

fn run_dir(name: &str) -> PathBuf {
    let d = scratch(name);
    std::fs::create_dir_all(d.join("stage-0")).unwrap();
    std::fs::write(d.join("stage-0/report.json"), b"{\"ok\": true}").unwrap();
    std::fs::write(d.join("summary.md"), b"# run\n").unwrap();
    d
}

#[test]
fn gcs_gets_a_token_with_the_signed_jwt_and_uploads_every_file() {
    let public = public_key_of_test_account();
    let (addr, seen) = serve(Box::new(move |s: &Seen| {
        match (s.method.as_str(), s.target.as_str()) {
            ("POST", "/token") => {
                let form = String::from_utf8_lossy(&s.body).to_string();
                let jwt = form
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("assertion="))
                    .unwrap_or("");
                let claims = verify_jwt(jwt, &public);
                assert_eq!(claims["scope"], google_auth::SCOPE);
                assert!(
                    form.contains(
                        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                    ),
                    "{form}"
                );
                (
                    200,
                    r#"{"access_token": "ya29.test", "expires_in": 3599, "token_type": "Bearer"}"#
                        .into(),
                )
            }
            (_, t)
                if s.headers.get("authorization").map(String::as_str)
                    != Some("Bearer ya29.test") =>
            {
                (401, format!("{{\"error\": \"no token for {t}\"}}"))
            }
            ("GET", "/storage/v1/b/results") => (200, r#"{"name": "results"}"#.into()),
            // summary.md is there already: the precondition fails.
            ("POST", "/upload/storage/v1/b/results/o?uploadType=multipart&ifGenerationMatch=0") => {
                match String::from_utf8_lossy(&s.body).contains("summary.md") {
                    true => (412, r#"{"error": {"code": 412}}"#.into()),
                    false => (200, "{}".into()),
                }
            }
            _ => (400, "{}".into()),
        }
    }));
    // The key file, its token_uri pointing at the mock.
    let dir = scratch("gcs-key");
    let mut key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(test_key_file()).unwrap()).unwrap();
    key["token_uri"] = format!("http://{addr}/token").into();
    let key_file = dir.join("key.json");
    std::fs::write(&key_file, key.to_string()).unwrap();
    let mut store = gcs::Gcs::new(
        "results",
        &vars(&[("GOOGLE_APPLICATION_CREDENTIALS", key_file.to_str().unwrap())]),
    )
    .unwrap();
    store.set_base(&format!("http://{addr}"));
    let u = one_bucket(Box::new(store), "bench", String::new());
    u.check().unwrap();
    let lines = u.upload_dir(&run_dir("run-gcs"), "run-1").unwrap();
    assert_eq!(lines, ["1 files (12 bytes) to gs://results/bench/run-1/, 1 already there and left as they were"]);
    let seen = seen.lock().unwrap();
    let puts: Vec<&Seen> = (seen.iter())
        .filter(|s| s.method == "POST" && s.target.starts_with("/upload"))
        .filter(|s| !String::from_utf8_lossy(&s.body).contains("summary.md"))
        .collect();
    assert_eq!(puts.len(), 1);
    let boundary = (puts[0].headers["content-type"].strip_prefix("multipart/related; boundary="))
        .expect("a multipart upload");
    let body = String::from_utf8_lossy(&puts[0].body).to_string();
    let parts: Vec<&str> = body.split(&format!("--{boundary}")).collect();
    assert_eq!(parts.len(), 4, "metadata, content, end: {body}");
    let (meta_head, meta) = parts[1].split_once("\r\n\r\n").unwrap();
    assert!(meta_head.contains("application/json"));
    let meta: serde_json::Value = serde_json::from_str(meta.trim()).unwrap();
    assert_eq!(
        meta,
        serde_json::json!({"name": "bench/run-1/stage-0/report.json", "contentType": "application/json"})
    );
    assert_eq!(
        parts[2],
        "\r\nContent-Type: application/json\r\n\r\n{\"ok\": true}\r\n"
    );
    assert_eq!(parts[3], "--\r\n");
}

#[test]
fn a_missing_bucket_or_a_refused_upload_is_an_error_that_names_it() {
    let (addr, _) = serve(Box::new(|s: &Seen| match s.method.as_str() {
        "HEAD" if s.target == "/gone" => (404, String::new()),
        "HEAD" if s.target == "/results-bucket" => (200, String::new()),
        "HEAD" => (404, String::new()),
        _ => (403, "<Error><Code>AccessDenied</Code></Error>".into()),
    }));
    let env = vars(&[
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
    ]);
    let mut cfg = s3_config(Some(&format!("http://{addr}")), None);
    cfg.bucket_name = "gone".into();
    let u = one_bucket(
        Box::new(s3::S3::new(&cfg, &env).unwrap()),
        String::new(),
        String::new(),
    );
    let e = u.check().unwrap_err();
    assert!(
        e.contains("\"gone\"") && e.contains("does not exist"),
        "{e}"
    );
    cfg.bucket_name = "results-bucket".into();
    let u = one_bucket(
        Box::new(s3::S3::new(&cfg, &env).unwrap()),
        String::new(),
        String::new(),
    );
    u.check().unwrap();
    let e = u.upload_dir(&run_dir("run-refused"), "run-2").unwrap_err();
    assert!(
        e.contains("s3://results-bucket/run-2/stage-0/report.json answered 403")
            && e.contains("AccessDenied")
            && e.contains("0 of 2 files"),
        "{e}"
    );
}

#[test]
fn s3_requests_are_signed_and_put_where_the_profile_says() {
    let (addr, seen) = serve(Box::new(|s: &Seen| match s.method.as_str() {
        "HEAD" if s.target == "/results-bucket" => (200, String::new()),
        "HEAD" => (404, String::new()),
        "PUT" => (200, String::new()),
        _ => (400, String::new()),
    }));
    let env = vars(&[
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
        ("AWS_SESSION_TOKEN", "tok"),
    ]);
    let cfg = s3_config(Some(&format!("http://{addr}")), None);
    let u = one_bucket(
        Box::new(s3::S3::new(&cfg, &env).unwrap()),
        "bench",
        "llama-",
    );
    u.check().unwrap();
    let lines = u.upload_dir(&run_dir("run-s3"), "run-3").unwrap();
    assert_eq!(
        lines,
        ["2 files (18 bytes) to s3://results-bucket/bench/llama-run-3/"]
    );
    let seen = seen.lock().unwrap();
    let puts: Vec<&Seen> = seen.iter().filter(|s| s.method == "PUT").collect();
    assert_eq!(
        puts.iter().map(|s| s.target.as_str()).collect::<Vec<_>>(),
        [
            "/results-bucket/bench/llama-run-3/stage-0/report.json",
            "/results-bucket/bench/llama-run-3/summary.md"
        ]
    );
    let p = puts[0];
    assert_eq!(p.headers["host"], addr);
    assert_eq!(
        p.headers["x-amz-content-sha256"],
        sha256_hex(b"{\"ok\": true}")
    );
    assert_eq!(p.headers["x-amz-security-token"], "tok");
    let auth = &p.headers["authorization"];
    assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKID/") && auth.contains("/us-east-1/s3/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature="), "{auth}");
}

#[test]
fn a_submitted_profile_uploads_only_to_the_operators_buckets() {
    let profile = |storage: &str| {
        let text = format!(
            "server: {{base_url: 'http://127.0.0.1:8000', model_name: m}}\n\
             data: {{type: random, input_distribution: {{mean: 10, std_dev: 0}}, output_distribution: {{mean: 4, std_dev: 0}}}}\n\
             load: {{type: constant, stages: [{{rate: 1, duration: 2}}]}}\n{storage}"
        );
        fleetbench_profile::parse_profile(&text, Path::new("p.yaml"), "p")
            .unwrap()
            .profile
    };
    let allowed = ["team-results".to_string()];
    assert!(admit_submitted(&profile(""), &[]).is_ok());
    let gcs = profile("storage: {google_cloud_storage: {bucket_name: team-results}}\n");
    assert!(admit_submitted(&gcs, &allowed).is_ok());
    let e = admit_submitted(&gcs, &[]).unwrap_err();
    assert!(
        e.contains("storage.google_cloud_storage.bucket_name") && e.contains("--storage-bucket"),
        "{e}"
    );
    let s3 = profile("storage: {simple_storage_service: {bucket_name: other}}\n");
    assert!(admit_submitted(&s3, &allowed)
        .unwrap_err()
        .contains("\"other\""));
    let s3 = profile("storage: {simple_storage_service: {bucket_name: team-results, endpoint_url: 'http://10.0.0.9:9000'}}\n");
    let e = admit_submitted(&s3, &allowed).unwrap_err();
    assert!(
        e.contains("endpoint_url") && e.contains("AWS_ENDPOINT_URL_S3"),
        "{e}"
    );
}

#[test]
fn a_multipart_body_frames_the_bytes_between_its_boundaries() {
    let (b, head, tail) = gcs::multipart("k/x.txt", "text/plain");
    let text = String::from_utf8([head, b"hello".to_vec(), tail].concat()).unwrap();
    assert_eq!(
        text,
        format!("--{b}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{{\"name\":\"k/x.txt\",\"contentType\":\"text/plain\"}}\r\n--{b}\r\nContent-Type: text/plain\r\n\r\nhello\r\n--{b}--\r\n")
    );
    let (b2, _, _) = gcs::multipart("k", "text/plain");
    assert_ne!(b, b2, "a fresh random boundary each time");
}
