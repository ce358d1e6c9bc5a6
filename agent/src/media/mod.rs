//! A request's synthetic media as OpenAI chat content parts: the prompt's words with each
//! [`MediaItem`] woven in before its word (`image_url` parts with `data:image/png|jpeg;base64`
//! URLs, a video as its frames' `image_url` parts at one place or as one `video_url` part with a
//! `data:video/mp4;base64` URL, `input_audio` parts with a WAV as `{"data", "format": "wav"}`),
//! as inference-perf sends them.
//!
//! Encoded media are kept per shape and variant (an image's size, encoding and colour; a clip's
//! length) in one process-wide cache of at most [`CACHE_BYTES`], emptied when full, so a 4K PNG
//! is encoded once and not per request. The pacing thread builds an open-loop request before
//! its intended instant, so encoding is not in its latency unless it takes longer than the time
//! to that instant (only the first requests of each shape and variant encode).

mod encode;
mod mp4;
mod stored;

pub(crate) use stored::{check_held, Receiver};

use base64::Engine;
use fleetbench_model::data::{
    ImageEncoding, MediaItem, MediaKind, Resolution, VideoShape, MEDIA_VARIANTS,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The most bytes of encoded (base64) media the agent keeps.
pub(crate) const CACHE_BYTES: usize = 256 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Image(Resolution, ImageEncoding, u32),
    Mp4(VideoShape, u32),
    Audio(u32),
}

/// One encoded medium: its base64 text and the bytes it encodes.
#[derive(Clone)]
struct Encoded {
    text: Arc<str>,
    raw_bytes: u64,
}

#[derive(Default)]
struct Cache {
    map: HashMap<Key, Encoded>,
    bytes: usize,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The base64 text of `key`'s media (a data URL for an image, the bare base64 for audio) and
/// the encoded file's size.
fn encoded(key: Key) -> Encoded {
    if let Some(v) = cache().lock().ok().and_then(|c| c.map.get(&key).cloned()) {
        return v;
    }
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let (text, raw_bytes): (Arc<str>, usize) = match key {
        Key::Image(r, e, variant) => {
            let bytes = encode::image(r, e, encode::colour(variant));
            let url = encode::data_url(e.mime(), &bytes);
            (url.into(), bytes.len())
        }
        Key::Mp4(shape, variant) => {
            let bytes = mp4::mp4(shape, encode::colour(variant));
            let url = encode::data_url("video/mp4", &bytes);
            (url.into(), bytes.len())
        }
        Key::Audio(millis) => {
            let wav = encode::wav(millis);
            (b64(&wav).into(), wav.len())
        }
    };
    let v = Encoded {
        text,
        raw_bytes: raw_bytes as u64,
    };
    if let Ok(mut c) = cache().lock() {
        if c.bytes + v.text.len() > CACHE_BYTES {
            c.map.clear();
            c.bytes = 0;
        }
        if v.text.len() <= CACHE_BYTES {
            c.bytes += v.text.len();
            c.map.insert(key, v.clone());
        }
    }
    v
}

/// One image or video a request sent, as inference-perf's payload statistics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Picture {
    /// Width × height of an image; of a video, summed over its frames (llm-d report 0.2.1's
    /// `pixels`; inference-perf counts one frame's).
    pub pixels: u64,
    /// Encoded bytes before base64 (a video's: all its frames).
    pub bytes: u64,
    /// Width / height, thousandths.
    pub aspect_milli: u64,
    /// A video's frames (1 for an image).
    pub frames: u32,
}

/// One audio clip a request sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Clip {
    /// Its duration, ms.
    pub millis: u32,
    /// The WAV file's bytes before base64.
    pub bytes: u64,
}

/// The media one request sent (`data.multimodal`): what the report's payload statistics count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaSent {
    /// Its images.
    pub(crate) images: Vec<Picture>,
    /// Its videos.
    pub(crate) videos: Vec<Picture>,
    /// Its audio clips.
    pub(crate) audios: Vec<Clip>,
}

fn picture(r: Resolution, frames: u32, bytes: u64) -> Picture {
    Picture {
        pixels: u64::from(r.width) * u64::from(r.height) * u64::from(frames),
        bytes,
        aspect_milli: (u64::from(r.width) * 1000 + u64::from(r.height) / 2)
            / u64::from(r.height.max(1)),
        frames,
    }
}

fn image_part(r: Resolution, e: ImageEncoding, variant: u32) -> (Value, u64) {
    let v = encoded(Key::Image(r, e, variant % MEDIA_VARIANTS));
    let part = json!({"type": "image_url", "image_url": {"url": &*v.text}});
    (part, v.raw_bytes)
}

/// The content parts one item becomes, and what it adds to the request's media.
fn parts_of(item: &MediaItem, out: &mut Vec<Value>, sent: &mut MediaSent) {
    match item.kind {
        MediaKind::Image {
            resolution,
            encoding,
        } => {
            let (part, bytes) = image_part(resolution, encoding, item.variant);
            out.push(part);
            sent.images.push(picture(resolution, 1, bytes));
        }
        MediaKind::Video { shape, encoding } => {
            let mut bytes = 0;
            match encoding.frame() {
                Some(e) => {
                    for f in 0..shape.frames {
                        let (part, b) = image_part(shape.resolution, e, item.variant + f);
                        out.push(part);
                        bytes += b;
                    }
                }
                None => {
                    let v = encoded(Key::Mp4(shape, item.variant % MEDIA_VARIANTS));
                    out.push(json!({"type": "video_url", "video_url": {"url": &*v.text}}));
                    bytes = v.raw_bytes;
                }
            }
            sent.videos
                .push(picture(shape.resolution, shape.frames, bytes));
        }
        MediaKind::Stored { image, resolution } => {
            // The stage checked that the run's images are held (`check_held`).
            if let Some((url, bytes)) = stored::url(image) {
                out.push(json!({"type": "image_url", "image_url": {"url": &*url}}));
                sent.images.push(picture(resolution, 1, bytes));
            }
        }
        MediaKind::Audio { millis } => {
            let v = encoded(Key::Audio(millis));
            out.push(
                json!({"type": "input_audio", "input_audio": {"data": &*v.text, "format": "wav"}}),
            );
            sent.audios.push(Clip {
                millis,
                bytes: v.raw_bytes,
            });
        }
    }
}

/// The user message's content: the prompt's words as text parts with the media woven in, and
/// the media it sent.
pub(crate) fn content_parts(prompt: &str, media: &[MediaItem]) -> (Vec<Value>, MediaSent) {
    if media
        .iter()
        .any(|m| matches!(m.kind, MediaKind::Stored { .. }))
    {
        return content_at_chars(prompt, media);
    }
    let words: Vec<&str> = prompt.split(' ').filter(|w| !w.is_empty()).collect();
    let mut out = Vec::with_capacity(media.len() * 2 + 1);
    let mut sent = MediaSent::default();
    let text = |from: usize, to: usize, out: &mut Vec<Value>| {
        if to > from {
            out.push(json!({"type": "text", "text": words[from..to].join(" ")}));
        }
    };
    let mut last = 0;
    for item in media {
        let at = (item.at as usize).clamp(last, words.len());
        text(last, at, &mut out);
        last = at;
        parts_of(item, &mut out, &mut sent);
    }
    text(last, words.len(), &mut out);
    (out, sent)
}

/// A dataset's prompt with its images woven in, as inference-perf's `assemble_content` cuts it:
/// each item before the character it names (a text part is the prompt's characters between two
/// places, as they are).
fn content_at_chars(prompt: &str, media: &[MediaItem]) -> (Vec<Value>, MediaSent) {
    let chars: Vec<(usize, char)> = prompt.char_indices().collect();
    let byte_at = |c: usize| chars.get(c).map_or(prompt.len(), |&(b, _)| b);
    let mut out = Vec::with_capacity(media.len() * 2 + 1);
    let mut sent = MediaSent::default();
    let mut last = 0;
    for item in media {
        let at = (item.at as usize).min(chars.len());
        if at > last {
            out.push(json!({"type": "text", "text": &prompt[byte_at(last)..byte_at(at)]}));
            last = at;
        }
        parts_of(item, &mut out, &mut sent);
    }
    if last < chars.len() {
        out.push(json!({"type": "text", "text": &prompt[byte_at(last)..]}));
    }
    (out, sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetbench_model::data::VideoEncoding;

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
                at: 0,
                variant: 3,
            },
            MediaItem {
                kind: MediaKind::Video {
                    shape: VideoShape {
                        resolution: r,
                        frames: 2,
                    },
                    encoding: VideoEncoding::Jpeg,
                },
                at: 2,
                variant: 1,
            },
            MediaItem {
                kind: MediaKind::Audio { millis: 100 },
                at: 3,
                variant: 0,
            },
        ];
        let (parts, sent) = content_parts("a b c", &media);
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
        // What was sent: one 30x20 image, one 2-frame video, one 100 ms clip, with the bytes
        // the base64 texts decode to.
        let decoded = |b64: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap()
                .len() as u64
        };
        let after_comma = |p: &Value| {
            let url = p["image_url"]["url"].as_str().unwrap();
            decoded(&url[url.find(',').unwrap() + 1..])
        };
        assert_eq!(sent.images.len(), 1);
        assert_eq!(
            sent.images[0],
            Picture {
                pixels: 600,
                bytes: after_comma(&parts[0]),
                aspect_milli: 1500,
                frames: 1
            }
        );
        assert_eq!(sent.videos.len(), 1);
        assert_eq!(sent.videos[0].frames, 2);
        assert_eq!(
            sent.videos[0].bytes,
            after_comma(&parts[2]) + after_comma(&parts[3])
        );
        assert_eq!(
            sent.audios,
            vec![Clip {
                millis: 100,
                bytes: decoded(parts[5]["input_audio"]["data"].as_str().unwrap())
            }]
        );
        // The second request of the same shapes takes the cached text.
        let again = encoded(Key::Image(r, ImageEncoding::Png, 3));
        let first = encoded(Key::Image(r, ImageEncoding::Png, 3));
        assert!(Arc::ptr_eq(&again.text, &first.text));
        // Without media: the prompt as one text part.
        assert_eq!(
            content_parts("x y", &[]),
            (
                vec![json!({"type": "text", "text": "x y"})],
                MediaSent::default()
            )
        );
    }

    #[test]
    fn an_mp4_video_is_one_video_url_part_with_its_file_size() {
        let shape = VideoShape {
            resolution: Resolution {
                width: 64,
                height: 48,
            },
            frames: 3,
        };
        let item = MediaItem {
            kind: MediaKind::Video {
                shape,
                encoding: VideoEncoding::Mp4,
            },
            at: 1,
            variant: 70,
        };
        let (parts, sent) = content_parts("a b", &[item]);
        let kinds: Vec<&str> = parts.iter().map(|p| p["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["text", "video_url", "text"]);
        let url = parts[1]["video_url"]["url"].as_str().unwrap();
        let b64 = url.strip_prefix("data:video/mp4;base64,").unwrap();
        let file = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(&file[4..8], b"ftyp");
        // Variant 70 is variant 6's colour: the cache holds one file per shape and colour.
        assert_eq!(file, mp4::mp4(shape, encode::colour(6)));
        assert_eq!(sent.videos.len(), 1);
        assert_eq!(
            sent.videos[0],
            Picture {
                pixels: 64 * 48 * 3,
                bytes: file.len() as u64,
                aspect_milli: 1333,
                frames: 3
            }
        );
    }
}
