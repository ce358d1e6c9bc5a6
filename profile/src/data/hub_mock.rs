//! A local server that answers as the Hugging Face Hub does for a dataset (the repository's
//! listing at `/api/datasets/{id}/revision/{rev}`, its files at
//! `/datasets/{id}/resolve/{rev}/{file}` with ranges, ETag and commit), for the tests of the
//! readers that list and download a dataset's split, so no test leaves the machine.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

/// Serves the dataset `id` at `main` (commit `c0ffee`) with `files` (repository path → bytes),
/// for `requests` requests (a test that joins the server expects exactly as many); returns the
/// endpoint and the paths asked for.
pub(crate) fn dataset_server(
    id: &str,
    files: Vec<(&'static str, Vec<u8>)>,
    requests: usize,
) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let listing = serde_json::json!({
        "sha": "c0ffee",
        "siblings": files.iter().map(|(p, _)| serde_json::json!({"rfilename": p})).collect::<Vec<_>>(),
    })
    .to_string();
    let bodies: HashMap<String, Vec<u8>> = files
        .into_iter()
        .map(|(p, b)| (format!("/datasets/{id}/resolve/main/{p}"), b))
        .collect();
    let listing_path = format!("/api/datasets/{id}/revision/main");
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut range: Option<(usize, Option<usize>)> = None;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let lower = h.trim().to_ascii_lowercase();
                if let Some(r) = lower.strip_prefix("range: bytes=") {
                    let (a, b) = r.split_once('-').unwrap();
                    range = Some((a.parse().unwrap(), b.parse().ok()));
                }
                if lower.is_empty() {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            seen.push(path.clone());
            let reply = if path == listing_path {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{listing}",
                    listing.len()
                )
                .into_bytes()
            } else if let Some(body) = bodies.get(&path) {
                let (from, to) = range.unwrap_or((0, None));
                let to = to.unwrap_or(body.len() - 1).min(body.len() - 1);
                let part = &body[from..=to];
                let head = format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{to}/{}\r\nETag: \"e-{}\"\r\nX-Repo-Commit: c0ffee\r\nConnection: close\r\n\r\n",
                    part.len(),
                    body.len(),
                    body.len()
                );
                [head.as_bytes(), part].concat()
            } else {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            };
            let _ = stream.write_all(&reply);
        }
        seen
    });
    (endpoint, handle)
}
