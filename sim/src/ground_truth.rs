//! The ground-truth log: one JSON line per request, written when the request ends, with the
//! wall-clock time (Unix microseconds) at which each token was handed to the connection. Tests
//! compare what a client measured with what the server actually did.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Wall-clock now in Unix microseconds.
pub(crate) fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// One request's line.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct GroundTruthRecord {
    pub(crate) request_id: String,
    pub(crate) arrival_unix_us: u64,
    /// Null when no token was sent.
    pub(crate) first_token_unix_us: Option<u64>,
    pub(crate) token_unix_us: Vec<u64>,
    pub(crate) prompt_tokens: u32,
    pub(crate) completion_tokens: u32,
    /// The model or LoRA adapter that served it (absent when the request was refused before).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) model: Option<String>,
    /// When the prompt was computed (P/D prefill role) or the first token was sent.
    pub(crate) prefill_done_unix_us: Option<u64>,
    /// Prompt tokens this instance computed (0 when the KV came from a prefill instance).
    pub(crate) computed_prompt_tokens: u32,
    /// Prompt tokens whose KV came from a prefill instance (P/D decode role).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kv_received_tokens: Option<u32>,
    /// `image_url` parts of a chat request (absent: none).
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) images: u32,
    /// `input_audio` parts (absent: none).
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) audios: u32,
    /// `video_url` parts (absent: none).
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) videos: u32,
    /// The prompt tokens charged for the media (in `prompt_tokens`; absent: none).
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) media_tokens: u32,
    /// Tool definitions of a chat request (absent: none).
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) tools: u32,
    /// Its `tool_choice`, as sent (absent: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tool_choice: Option<serde_json::Value>,
    /// The id of the tool call its output made (absent: it answered text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tool_call: Option<String>,
    /// The `tool_call_id`s of its `role: tool` messages, in order (absent: none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) tool_results: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Append-only JSONL file, flushed after every line.
#[derive(Debug)]
pub(crate) struct GroundTruthLog {
    out: Mutex<BufWriter<File>>,
}

impl GroundTruthLog {
    pub(crate) fn create(path: &Path) -> std::io::Result<Self> {
        Ok(GroundTruthLog {
            out: Mutex::new(BufWriter::new(File::create(path)?)),
        })
    }

    pub(crate) fn write(&self, rec: &GroundTruthRecord) {
        let mut line = match serde_json::to_vec(rec) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("ground truth record not serialized: {e}");
                return;
            }
        };
        line.push(b'\n');
        let Ok(mut out) = self.out.lock() else {
            return;
        };
        if let Err(e) = out.write_all(&line).and_then(|_| out.flush()) {
            tracing::warn!("ground truth not written: {e}");
        }
    }
}
