//! Chat content parts that carry media (`image_url`, `input_audio`, `video_url`): the sim
//! decodes enough of each to know its size and charges prompt tokens for it by a fixed rule
//! (README, "Multimodal requests"):
//!
//! - an image (PNG or JPEG data URL): `ceil(width / 28) × ceil(height / 28)` tokens, as
//!   Qwen2-VL's 28-pixel patches after merging, at most [`MAX_IMAGE_TOKENS`];
//! - an audio clip (WAV, `input_audio` with format `wav`): [`AUDIO_TOKENS_PER_S`] tokens per
//!   second, rounded up;
//! - a video (`video_url` with an MP4 data URL): each frame charged as an image of the track's
//!   size (`tkhd`), frames counted from the sample table (`stsz`); the sim reads the container
//!   only, never the H.264 stream. Videos sent as frames are images.
//!
//! Only `data:` URLs are read: the sim fetches nothing.

use base64::Engine;
use serde_json::Value;

/// Pixels per token side (Qwen2-VL: 14-pixel patches merged 2 × 2).
pub(crate) const PATCH_PX: u32 = 28;

/// The most tokens one image is charged.
pub(crate) const MAX_IMAGE_TOKENS: u32 = 16_384;

/// Tokens per second of audio (Whisper-style encoders: 25 frames per second after pooling).
pub(crate) const AUDIO_TOKENS_PER_S: f64 = 25.0;

/// What a media part is, with the tokens it is charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Media {
    /// An image of this size.
    Image { width: u32, height: u32 },
    /// An audio clip of this many milliseconds.
    Audio { millis: u64 },
    /// A video of `frames` frames of this size.
    Video {
        width: u32,
        height: u32,
        frames: u32,
    },
}

impl Media {
    /// Prompt tokens charged for it.
    pub(crate) fn tokens(self) -> u32 {
        match self {
            Media::Image { width, height } => {
                let t = u64::from(width.div_ceil(PATCH_PX)) * u64::from(height.div_ceil(PATCH_PX));
                t.min(u64::from(MAX_IMAGE_TOKENS)) as u32
            }
            Media::Video {
                width,
                height,
                frames,
            } => {
                let frame = u64::from(Media::Image { width, height }.tokens());
                (frame * u64::from(frames)).min(u64::from(u32::MAX)) as u32
            }
            Media::Audio { millis } => {
                let t = (millis as f64 / 1000.0 * AUDIO_TOKENS_PER_S).ceil();
                t.min(u32::MAX as f64) as u32
            }
        }
    }
}

/// Why a media part was refused (a 400 naming the reason).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum MediaError {
    #[error("content part type `{0}` is not supported (text, image_url, input_audio, video_url)")]
    UnknownType(String),
    #[error("`{0}` is missing or not a string")]
    Missing(&'static str),
    #[error("only data: URLs are read (the sim fetches nothing): {0}")]
    NotData(String),
    #[error("not an MP4 with a video track of readable size and frame count")]
    Video,
    #[error("base64 payload does not decode: {0}")]
    Base64(String),
    #[error("not a PNG or JPEG image with a readable size")]
    Image,
    #[error("not a PCM WAV file with a readable duration (format `{0}`)")]
    Audio(String),
}

/// The media of one content part with a hash of its bytes (its token ids for the prefix
/// cache): `None` for a text part.
pub(crate) fn part(p: &Value) -> Result<Option<(Media, u64)>, MediaError> {
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("text");
    match kind {
        "text" => Ok(None),
        "image_url" => {
            let url = (p.get("image_url").and_then(|u| u.get("url")))
                .and_then(Value::as_str)
                .ok_or(MediaError::Missing("image_url.url"))?;
            let bytes = data_url(url)?;
            let (width, height) = image_size(&bytes).ok_or(MediaError::Image)?;
            Ok(Some((Media::Image { width, height }, fnv(&bytes))))
        }
        "input_audio" => {
            let a = p.get("input_audio");
            let data = (a.and_then(|a| a.get("data")))
                .and_then(Value::as_str)
                .ok_or(MediaError::Missing("input_audio.data"))?;
            let format = (a.and_then(|a| a.get("format")))
                .and_then(Value::as_str)
                .unwrap_or("");
            let bytes = base64_bytes(data)?;
            let millis = match format {
                "wav" => wav_millis(&bytes),
                _ => None,
            }
            .ok_or_else(|| MediaError::Audio(format.to_string()))?;
            Ok(Some((Media::Audio { millis }, fnv(&bytes))))
        }
        "video_url" => {
            let url = (p.get("video_url").and_then(|u| u.get("url")))
                .and_then(Value::as_str)
                .ok_or(MediaError::Missing("video_url.url"))?;
            let bytes = data_url(url)?;
            let (width, height, frames) = mp4_shape(&bytes).ok_or(MediaError::Video)?;
            let video = Media::Video {
                width,
                height,
                frames,
            };
            Ok(Some((video, fnv(&bytes))))
        }
        other => Err(MediaError::UnknownType(other.chars().take(64).collect())),
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn base64_bytes(s: &str) -> Result<Vec<u8>, MediaError> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| MediaError::Base64(e.to_string()))
}

/// The bytes of a `data:<mime>;base64,<payload>` URL.
fn data_url(url: &str) -> Result<Vec<u8>, MediaError> {
    let rest = url
        .strip_prefix("data:")
        .ok_or_else(|| MediaError::NotData(url.chars().take(64).collect()))?;
    let (_, payload) = rest
        .split_once(";base64,")
        .ok_or_else(|| MediaError::NotData("a data: URL without ;base64,".into()))?;
    base64_bytes(payload)
}

/// Width and height from a PNG's IHDR, a JPEG's start-of-frame marker or a WebP's header.
pub(crate) fn image_size(b: &[u8]) -> Option<(u32, u32)> {
    if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        let s = imagesize::blob_size(b).ok()?;
        let side = |v: usize| u32::try_from(v).ok().filter(|&v| v > 0);
        return Some((side(s.width)?, side(s.height)?));
    }
    let be32 = |i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let be16 = |i: usize| {
        Some(u32::from(u16::from_be_bytes(
            b.get(i..i + 2)?.try_into().ok()?,
        )))
    };
    if b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16) == Some(b"IHDR") {
        return Some((be32(16)?, be32(20)?)).filter(|(w, h)| *w > 0 && *h > 0);
    }
    if !b.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    // Walk the markers to the first SOFn (C0–CF except C4, C8, CC).
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let marker = b[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        let len = be16(i + 2)? as usize;
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            let (h, w) = (be16(i + 5)?, be16(i + 7)?);
            return Some((w, h)).filter(|(w, h)| *w > 0 && *h > 0);
        }
        i += 2 + len;
    }
    None
}

/// The boxes of an ISO BMFF buffer: (type, body), stopping at the first malformed size.
fn boxes(b: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let size = u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize;
        let end = at
            .checked_add(size)
            .filter(|e| size >= 8 && *e <= b.len())?;
        let item = (&b[at + 4..at + 8], &b[at + 8..end]);
        at = end;
        Some(item)
    })
}

fn child<'a>(b: &'a [u8], kind: &[u8]) -> Option<&'a [u8]> {
    boxes(b).find(|(k, _)| *k == kind).map(|(_, body)| body)
}

/// An MP4's first video track: width and height from `tkhd` (16.16 fixed point), frames from
/// the sample count of `stsz`.
pub(crate) fn mp4_shape(b: &[u8]) -> Option<(u32, u32, u32)> {
    let moov = child(b, b"moov")?;
    boxes(moov)
        .filter(|(k, _)| *k == b"trak")
        .find_map(|(_, trak)| {
            let mdia = child(trak, b"mdia")?;
            let hdlr = child(mdia, b"hdlr")?;
            if hdlr.get(8..12) != Some(b"vide") {
                return None;
            }
            let tkhd = child(trak, b"tkhd")?;
            let at = tkhd.len().checked_sub(8)?;
            let be32 =
                |s: &[u8], i: usize| Some(u32::from_be_bytes(s.get(i..i + 4)?.try_into().ok()?));
            let (w, h) = (be32(tkhd, at)? >> 16, be32(tkhd, at + 4)? >> 16);
            let stbl = child(child(mdia, b"minf")?, b"stbl")?;
            let frames = be32(child(stbl, b"stsz")?, 8)?;
            Some((w, h, frames)).filter(|(w, h, f)| *w > 0 && *h > 0 && *f > 0)
        })
}

/// A PCM WAV's duration in milliseconds (its `data` chunk over the `fmt ` byte rate).
pub(crate) fn wav_millis(b: &[u8]) -> Option<u64> {
    if b.get(0..4) != Some(b"RIFF") || b.get(8..12) != Some(b"WAVE") {
        return None;
    }
    let le32 = |i: usize| Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let (mut i, mut byte_rate) = (12usize, None);
    while i + 8 <= b.len() {
        let id = &b[i..i + 4];
        let size = le32(i + 4)? as usize;
        if id == b"fmt " {
            byte_rate = le32(i + 16).filter(|r| *r > 0);
        } else if id == b"data" {
            let size = size.min(b.len() - (i + 8)) as u64;
            return Some(size * 1000 / u64::from(byte_rate?));
        }
        i = i.checked_add(8 + size + (size & 1))?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend(w.to_be_bytes());
        b.extend(h.to_be_bytes());
        b.extend([8, 2, 0, 0, 0]);
        b
    }

    #[test]
    fn image_and_audio_sizes_and_tokens() {
        assert_eq!(image_size(&png_header(1920, 1080)), Some((1920, 1080)));
        // SOI, an APP0 of 4 bytes, SOF0 with height 720 and width 1280.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 11, 8, 0x02, 0xD0, 0x05, 0x00, 3,
        ];
        assert_eq!(image_size(&jpeg), Some((1280, 720)));
        assert_eq!(image_size(b"GIF89a"), None);
        let tokens = |width, height| Media::Image { width, height }.tokens();
        assert_eq!(tokens(1920, 1080), 69 * 39);
        assert_eq!(tokens(28, 29), 2);
        assert_eq!(tokens(8192, 8192), MAX_IMAGE_TOKENS);
        assert_eq!(Media::Audio { millis: 1500 }.tokens(), 38);
        // A 16 kHz mono 16-bit WAV of 0.25 s.
        let mut wav = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0".to_vec();
        wav.extend(16_000u32.to_le_bytes());
        wav.extend(32_000u32.to_le_bytes());
        wav.extend([2, 0, 16, 0]);
        wav.extend(b"data");
        wav.extend(8000u32.to_le_bytes());
        wav.extend(vec![0u8; 8000]);
        assert_eq!(wav_millis(&wav), Some(250));
    }

    #[test]
    fn parts_are_read_from_data_urls_only() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(png_header(56, 28));
        let p = serde_json::json!({"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{b64}")}});
        let (m, _) = part(&p).unwrap().unwrap();
        assert_eq!(
            (m, m.tokens()),
            (
                Media::Image {
                    width: 56,
                    height: 28
                },
                2
            )
        );
        let remote =
            serde_json::json!({"type": "image_url", "image_url": {"url": "http://x/y.png"}});
        assert!(matches!(part(&remote), Err(MediaError::NotData(_))));
        let video = serde_json::json!({"type": "video_url", "video_url": {"url": "data:video/mp4;base64,AAAA"}});
        assert_eq!(part(&video), Err(MediaError::Video));
        let text = serde_json::json!({"type": "text", "text": "a b"});
        assert_eq!(part(&text), Ok(None));
        // An MP4's container: a video track of 64 × 30 with 3 samples.
        let bx = |kind: &[u8], body: &[u8]| {
            [&(body.len() as u32 + 8).to_be_bytes()[..], kind, body].concat()
        };
        let mut tkhd = vec![0u8; 76];
        tkhd.extend((64u32 << 16).to_be_bytes());
        tkhd.extend((30u32 << 16).to_be_bytes());
        let hdlr = [&[0u8; 8][..], b"vide", &[0u8; 13]].concat();
        let stsz = [0u32, 0, 3, 10, 10, 10].map(u32::to_be_bytes).concat();
        let stbl = bx(b"stbl", &bx(b"stsz", &stsz));
        let mdia = bx(b"mdia", &[bx(b"hdlr", &hdlr), bx(b"minf", &stbl)].concat());
        let trak = bx(b"trak", &[bx(b"tkhd", &tkhd), mdia].concat());
        let file = [bx(b"ftyp", b"isom"), bx(b"moov", &trak), bx(b"mdat", &[])].concat();
        assert_eq!(mp4_shape(&file), Some((64, 30, 3)));
        assert_eq!(
            mp4_shape(&file[..file.len() - 8]),
            Some((64, 30, 3)),
            "without mdat"
        );
        assert_eq!(mp4_shape(&file[..40]), None, "moov cut");
        let url = format!(
            "data:video/mp4;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&file)
        );
        let p = serde_json::json!({"type": "video_url", "video_url": {"url": url}});
        let (m, _) = part(&p).unwrap().unwrap();
        // 3 frames of 3 × 2 patches.
        assert_eq!(m.tokens(), 18);
        let odd = serde_json::json!({"type": "file"});
        assert!(matches!(part(&odd), Err(MediaError::UnknownType(_))));
    }
}
