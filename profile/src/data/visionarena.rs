//! inference-perf's VisionArena-Chat loader (`datagen/dataset/visionarena_datagen.py`): the
//! dataset's split is read row by row (its files fetched into the Hub cache as they are reached)
//! until `num_rows` usable rows fill the pool. A row is usable when its `conversation` (a list of
//! turns, each a list of `{role, content}` messages, or a flat list of messages) has a user
//! message with text, and at least one of its first `max_images_per_request` `images` (the Hub's
//! undecoded Image feature, `{bytes, path}`) is a JPEG, PNG or WebP; the prompt is the first such
//! user message and each image is sent with its bytes as read. inference-perf decodes each image
//! to check it; here its header is read (format, size), so an image whose header is sound but
//! whose pixels are not is sent all the same.

use super::files::DatasetError;
use super::hub_dataset::SplitFiles;
use base64::Engine;
use fleetbench_model::data::{
    image_digest, PromptEntry, Resolution, StoredImage, StoredMedia, MAX_CARRIED_BYTES,
    MAX_STORED_IMAGE_BYTES, MAX_STORED_MEDIA_BYTES,
};
use serde_json::Value;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The most rows read while looking for usable ones.
const MAX_SCANNED_ROWS: usize = 1_000_000;

/// A dataset's images as the coordinator holds them: what the shard spec names and the bytes
/// the agents receive (`bytes[i]` is `media.images[i]`'s).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPool {
    /// The images as the spec names them.
    pub media: StoredMedia,
    /// Their bytes.
    pub bytes: Vec<Arc<[u8]>>,
}

/// What `data.visionarena` asks of the rows.
pub(crate) struct Wanted {
    pub rows: usize,
    pub images_per_row: usize,
    pub insertion: fleetbench_model::data::Insertion,
}

/// The pool's entries (prompt, the images it sends, inference-perf's default of 30 output
/// tokens) and their images, from `split`; `count` counts a prompt's tokens (absent: words).
/// The error names the dataset and split (or a file in the cache) and what is wrong.
pub(crate) fn read_visionarena(
    split: &SplitFiles<'_>,
    want: &Wanted,
    count: Option<&dyn Fn(&str) -> u32>,
) -> Result<(Vec<PromptEntry>, StoredPool), DatasetError> {
    let shown = PathBuf::from(&split.what);
    let err = |path: &Path, message: String| DatasetError {
        path: path.to_path_buf(),
        message,
    };
    let mut pool = Pool::default();
    let mut scanned = 0usize;
    for name in &split.names {
        if pool.entries.len() >= want.rows || scanned >= MAX_SCANNED_ROWS {
            break;
        }
        let f = split.path(name).map_err(|m| err(&shown, m))?;
        let mut each = |row: Value| {
            scanned += 1;
            pool.add(&row, want, count)?;
            let done = pool.entries.len() >= want.rows || scanned >= MAX_SCANNED_ROWS;
            Ok(if done {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        };
        super::dataset_rows::for_each_row(&f, split.format, &mut each).map_err(|m| err(&f, m))?;
    }
    if pool.entries.is_empty() {
        return Err(err(
            &shown,
            format!("no usable row in {scanned} rows: each needs a user turn with text in `conversation` and a JPEG, PNG or WebP among its first {} `images`", want.images_per_row),
        ));
    }
    let stored = StoredPool {
        media: StoredMedia {
            images: pool.images,
            insertion: want.insertion,
        },
        bytes: pool.bytes,
    };
    Ok((pool.entries, stored))
}

#[derive(Default)]
struct Pool {
    entries: Vec<PromptEntry>,
    images: Vec<StoredImage>,
    bytes: Vec<Arc<[u8]>>,
    text_bytes: usize,
    image_bytes: u64,
}

impl Pool {
    /// Adds `row` if it is usable; an error when the pool outgrows what a run may carry.
    fn add(
        &mut self,
        row: &Value,
        want: &Wanted,
        count: Option<&dyn Fn(&str) -> u32>,
    ) -> Result<(), String> {
        let Some(prompt) = first_user_text(&row["conversation"]) else {
            return Ok(());
        };
        let Some(raw) = row["images"].as_array() else {
            return Ok(());
        };
        let images: Vec<(Vec<u8>, String, Resolution)> = (raw.iter().take(want.images_per_row))
            .filter_map(image_of)
            .collect();
        if images.is_empty() {
            return Ok(());
        }
        let row_bytes: u64 = images.iter().map(|(b, _, _)| b.len() as u64).sum();
        self.image_bytes += row_bytes;
        self.text_bytes += prompt.len();
        let n = self.entries.len() + 1;
        if self.image_bytes > MAX_STORED_MEDIA_BYTES {
            return Err(format!(
                "the images of the first {n} usable rows come to {} MiB, more than the {} MiB a run carries to every agent; lower data.visionarena.num_rows",
                self.image_bytes >> 20,
                MAX_STORED_MEDIA_BYTES >> 20
            ));
        }
        if self.text_bytes > MAX_CARRIED_BYTES {
            return Err(format!(
                "the prompts of the first {n} usable rows come to {} bytes, more than the {MAX_CARRIED_BYTES} a shard spec carries; lower data.visionarena.num_rows",
                self.text_bytes
            ));
        }
        let mut indices = Vec::with_capacity(images.len());
        for (bytes, mime, resolution) in images {
            indices.push(self.images.len() as u32);
            self.images.push(StoredImage {
                digest: image_digest(&bytes),
                mime,
                resolution,
                bytes: bytes.len() as u64,
            });
            self.bytes.push(bytes.into());
        }
        self.entries.push(PromptEntry {
            input_tokens: count.map(|c| c(&prompt)),
            prompt,
            output_tokens: super::text_datasets::DEFAULT_OUTPUT_TOKENS,
            messages: None,
            images: indices,
        });
        Ok(())
    }
}

/// The first user message with text: `conversation` as the dataset declares it (each turn a
/// one-message list) or flat.
fn first_user_text(conversation: &Value) -> Option<String> {
    let turns = conversation.as_array()?;
    for turn in turns {
        let messages = match turn {
            Value::Array(m) => m.as_slice(),
            one => std::slice::from_ref(one),
        };
        for m in messages {
            if m["role"] == "user" {
                if let Some(text) = m["content"].as_str().filter(|t| !t.trim().is_empty()) {
                    return Some(text.to_string());
                }
            }
        }
    }
    None
}

/// An image of the Hub's undecoded Image feature (`{bytes}`, base64 in a Parquet row read as
/// JSON) with its MIME type and size, when it is a JPEG, PNG or WebP within the size limit.
fn image_of(v: &Value) -> Option<(Vec<u8>, String, Resolution)> {
    let text = v["bytes"].as_str()?;
    if text.len() as u64 > MAX_STORED_IMAGE_BYTES / 3 * 4 + 4 {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    let mime = match imagesize::image_type(&bytes).ok()? {
        imagesize::ImageType::Jpeg => "image/jpeg",
        imagesize::ImageType::Png => "image/png",
        imagesize::ImageType::Webp => "image/webp",
        _ => return None,
    };
    let size = imagesize::blob_size(&bytes).ok()?;
    let side = |v: usize| u32::try_from(v).ok().filter(|&s| s > 0);
    let resolution = Resolution {
        width: side(size.width)?,
        height: side(size.height)?,
    };
    Some((bytes, mime.to_string(), resolution))
}
