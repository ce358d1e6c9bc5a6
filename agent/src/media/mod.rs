//! A request's synthetic media as OpenAI chat content parts: the prompt's words with each
//! [`MediaItem`] woven in before its word (`image_url` parts with `data:image/png|jpeg;base64`
//! URLs, a video as its frames' `image_url` parts at one place, `input_audio` parts with a WAV
//! as `{"data", "format": "wav"}`), as inference-perf sends them.
//!
//! Encoded media are kept per shape and variant (an image's size, encoding and colour; a clip's
//! length) in one process-wide cache of at most [`CACHE_BYTES`], emptied when full, so a 4K PNG
//! is encoded once and not per request. The pacing thread builds an open-loop request before
//! its intended instant, so encoding is not in its latency unless it takes longer than the time
//! to that instant (only the first requests of each shape and variant encode).

mod encode;

use base64::Engine;
use fleetbench_model::data::{ImageEncoding, MediaItem, MediaKind, Resolution, MEDIA_VARIANTS};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The most bytes of encoded (base64) media the agent keeps.
pub const CACHE_BYTES: usize = 256 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Image(Resolution, ImageEncoding, u32),
    Audio(u32),
}

#[derive(Default)]
struct Cache {
    map: HashMap<Key, Arc<str>>,
    bytes: usize,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The base64 text of `key`'s media: a data URL for an image, the bare base64 for audio.
fn encoded(key: Key) -> Arc<str> {
    if let Some(v) = cache().lock().ok().and_then(|c| c.map.get(&key).cloned()) {
        return v;
    }
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(b);
    let text: Arc<str> = match key {
        Key::Image(r, e, variant) => {
            let bytes = encode::image(r, e, encode::colour(variant));
            format!("data:{};base64,{}", e.mime(), b64(bytes)).into()
        }
        Key::Audio(millis) => b64(encode::wav(millis)).into(),
    };
    if let Ok(mut c) = cache().lock() {
        if c.bytes + text.len() > CACHE_BYTES {
            c.map.clear();
            c.bytes = 0;
        }
        if text.len() <= CACHE_BYTES {
            c.bytes += text.len();
            c.map.insert(key, text.clone());
        }
    }
    text
}

fn image_part(r: Resolution, e: ImageEncoding, variant: u32) -> Value {
    let url = encoded(Key::Image(r, e, variant % MEDIA_VARIANTS));
    json!({"type": "image_url", "image_url": {"url": &*url}})
}

/// The content parts one item becomes.
fn parts_of(item: &MediaItem, out: &mut Vec<Value>) {
    match item.kind {
        MediaKind::Image {
            resolution,
            encoding,
        } => out.push(image_part(resolution, encoding, item.variant)),
        MediaKind::Video { shape, encoding } => {
            for f in 0..shape.frames {
                out.push(image_part(shape.resolution, encoding, item.variant + f));
            }
        }
        MediaKind::Audio { millis } => {
            let data = encoded(Key::Audio(millis));
            out.push(
                json!({"type": "input_audio", "input_audio": {"data": &*data, "format": "wav"}}),
            );
        }
    }
}

/// The user message's content: the prompt's words as text parts with the media woven in.
pub fn content_parts(prompt: &str, media: &[MediaItem]) -> Vec<Value> {
    let words: Vec<&str> = prompt.split(' ').filter(|w| !w.is_empty()).collect();
    let mut out = Vec::with_capacity(media.len() * 2 + 1);
    let text = |from: usize, to: usize, out: &mut Vec<Value>| {
        if to > from {
            out.push(json!({"type": "text", "text": words[from..to].join(" ")}));
        }
    };
    let mut last = 0;
    for item in media {
        let at = (item.word as usize).clamp(last, words.len());
        text(last, at, &mut out);
        last = at;
        parts_of(item, &mut out);
    }
    text(last, words.len(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetbench_model::data::VideoShape;

    #[test]
    fn media_go_before_their_word_and_are_encoded_once() {
        let r = Resolution {
            width: 30,
            height: 20,
        };
        let media = [
            MediaItem {
                kind: MediaKind::Image {
                    resolution: r,
                    encoding: ImageEncoding::Png,
                },
                word: 0,
                variant: 3,
            },
            MediaItem {
                kind: MediaKind::Video {
                    shape: VideoShape {
                        resolution: r,
                        frames: 2,
                    },
                    encoding: ImageEncoding::Jpeg,
                },
                word: 2,
                variant: 1,
            },
            MediaItem {
                kind: MediaKind::Audio { millis: 100 },
                word: 3,
                variant: 0,
            },
        ];
        let parts = content_parts("a b c", &media);
        let kinds: Vec<&str> = parts.iter().map(|p| p["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "image_url",
                "text",
                "image_url",
                "image_url",
                "text",
                "input_audio"
            ]
        );
        assert_eq!(parts[1]["text"], "a b");
        assert_eq!(parts[4]["text"], "c");
        let url = parts[0]["image_url"]["url"].as_str().unwrap();
        assert!(url.starts_with("data:image/png;base64,"), "{url}");
        assert!(parts[2]["image_url"]["url"]
            .as_str()
            .unwrap()
            .starts_with("data:image/jpeg;base64,"));
        assert_ne!(parts[2], parts[3], "frames differ");
        assert_eq!(parts[5]["input_audio"]["format"], "wav");
        // The second request of the same shapes takes the cached text.
        let again = encoded(Key::Image(r, ImageEncoding::Png, 3));
        let first = encoded(Key::Image(r, ImageEncoding::Png, 3));
        assert!(Arc::ptr_eq(&again, &first));
        // Without media: the prompt as one text part.
        assert_eq!(
            content_parts("x y", &[]),
            vec![json!({"type": "text", "text": "x y"})]
        );
    }
}
