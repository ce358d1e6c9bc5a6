//! A run's dataset images (VisionArena), received over the control stream before the run
//! ([`Receiver`]: `MediaPart` pieces in order, each image's size and SHA-256 checked) and held
//! as data URLs for the run's requests ([`url`]); one run's images at a time, bounded by
//! [`MAX_STORED_MEDIA_BYTES`], replaced when the next run's first piece arrives.

use fleetbench_model::data::{
    image_digest, StoredMedia, MAX_STORED_IMAGE_BYTES, MAX_STORED_MEDIA_BYTES,
};
use fleetbench_proto::v1 as wire;
use std::sync::{Arc, OnceLock, RwLock};

/// The most images one run may send (a spec carries at most 2,048 rows of 255 images).
const MAX_IMAGES: u32 = 2048 * 255;

/// One held image.
struct Held {
    digest: String,
    /// `data:MIME;base64,...`.
    url: Arc<str>,
    bytes: u64,
}

/// The held images of one run.
#[derive(Default)]
struct Store {
    run_id: String,
    images: Vec<Held>,
}

fn store() -> &'static RwLock<Store> {
    static STORE: OnceLock<RwLock<Store>> = OnceLock::new();
    STORE.get_or_init(RwLock::default)
}

/// The data URL of image `index` of the held run and its encoded size.
pub(crate) fn url(index: u32) -> Option<(Arc<str>, u64)> {
    let s = store().read().ok()?;
    let h = s.images.get(index as usize)?;
    Some((h.url.clone(), h.bytes))
}

/// Whether the images `media` names are the ones held for `run_id`; the error says what is
/// missing.
pub(crate) fn check_held(run_id: &str, media: &StoredMedia) -> Result<(), String> {
    let s = store()
        .read()
        .map_err(|_| "the image store is poisoned".to_string())?;
    let same = s.run_id == run_id
        && s.images.len() == media.images.len()
        && (s.images.iter().zip(&media.images)).all(|(h, m)| h.digest == m.digest);
    if same {
        return Ok(());
    }
    Err(format!(
        "the run's {} dataset images were not received before the stage (this agent holds {} of run {:?}); an agent restarted during a run cannot take part in it",
        media.images.len(),
        s.images.len(),
        s.run_id
    ))
}

/// The pieces of a run's images as they arrive.
#[derive(Default)]
pub(crate) struct Receiver {
    run_id: String,
    /// The image being received and its bytes so far.
    current: Vec<u8>,
    /// Bytes of the run's images so far.
    total: u64,
    /// Set when the run's images failed: later pieces of that run are dropped.
    failed: bool,
}

impl Receiver {
    /// Takes one piece; `Some` answer after the run's last piece or at its first error.
    pub(crate) fn take(&mut self, p: wire::MediaPart) -> Option<wire::MediaReceived> {
        if p.image == 0 && p.offset == 0 {
            *self = Receiver {
                run_id: p.run_id.clone(),
                ..Receiver::default()
            };
            if let Ok(mut s) = store().write() {
                *s = Store {
                    run_id: p.run_id.clone(),
                    images: Vec::new(),
                };
            }
        }
        if self.failed || p.run_id != self.run_id {
            return None;
        }
        let answer = |ok: bool, error: String, images: u32| wire::MediaReceived {
            run_id: p.run_id.clone(),
            ok,
            error,
            images,
        };
        match self.piece(&p) {
            Ok(Some(images)) => Some(answer(true, String::new(), images)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                self.current = Vec::new();
                if let Ok(mut s) = store().write() {
                    s.images.clear();
                }
                tracing::error!("the images of run {}: {e}", p.run_id);
                Some(answer(false, e, 0))
            }
        }
    }

    /// `Some(images)` when `p` completed the last image.
    fn piece(&mut self, p: &wire::MediaPart) -> Result<Option<u32>, String> {
        let held = store().read().map(|s| s.images.len()).unwrap_or(0);
        if p.images == 0 || p.images > MAX_IMAGES || p.image >= p.images {
            return Err(format!(
                "image {} of {}: not a valid index",
                p.image, p.images
            ));
        }
        if p.image as usize != held || p.offset != self.current.len() as u64 {
            return Err(format!(
                "image {} at byte {}: out of order (expected image {held} at byte {})",
                p.image,
                p.offset,
                self.current.len()
            ));
        }
        if p.size == 0 || p.size > MAX_STORED_IMAGE_BYTES {
            return Err(format!(
                "image {}: {} bytes, not from 1 to {MAX_STORED_IMAGE_BYTES}",
                p.image, p.size
            ));
        }
        let end = p.offset + p.data.len() as u64;
        if end > p.size || self.total + p.data.len() as u64 > MAX_STORED_MEDIA_BYTES {
            return Err(format!(
                "image {}: more bytes than its size {} or than the {MAX_STORED_MEDIA_BYTES} a run may send",
                p.image, p.size
            ));
        }
        if !matches!(p.mime.as_str(), "image/jpeg" | "image/png" | "image/webp") {
            return Err(format!("image {}: MIME type {:?}", p.image, p.mime));
        }
        self.current.extend_from_slice(&p.data);
        self.total += p.data.len() as u64;
        if end < p.size {
            return Ok(None);
        }
        let bytes = std::mem::take(&mut self.current);
        let digest = image_digest(&bytes);
        if digest != p.digest {
            return Err(format!(
                "image {}: its SHA-256 is {digest}, not {}",
                p.image, p.digest
            ));
        }
        let url: Arc<str> = super::encode::data_url(&p.mime, &bytes).into();
        let mut s = store().write().map_err(|_| "the image store is poisoned")?;
        s.images.push(Held {
            digest,
            url,
            bytes: bytes.len() as u64,
        });
        Ok((p.image + 1 == p.images).then_some(p.images))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use fleetbench_model::data::{Insertion, MediaItem, MediaKind, Resolution, StoredImage};

    fn parts(run: &str, bytes: &[u8], digest: &str, piece: usize) -> Vec<wire::MediaPart> {
        (bytes.chunks(piece).enumerate())
            .map(|(k, data)| wire::MediaPart {
                run_id: run.into(),
                image: 0,
                images: 1,
                digest: digest.into(),
                mime: "image/png".into(),
                size: bytes.len() as u64,
                offset: (k * piece) as u64,
                data: data.to_vec(),
            })
            .collect()
    }

    /// One test, as the store is the process's.
    #[test]
    fn pieces_are_checked_held_and_woven_in_at_their_character() {
        let bytes = b"\x89PNG fake image bytes".to_vec();
        let digest = image_digest(&bytes);
        let resolution = Resolution {
            width: 2,
            height: 2,
        };
        let media = StoredMedia {
            images: vec![StoredImage {
                digest: digest.clone(),
                mime: "image/png".into(),
                resolution,
                bytes: bytes.len() as u64,
            }],
            insertion: Insertion::At(0.5),
        };
        // A wrong digest fails the run's images, and later pieces are dropped.
        let mut r = Receiver::default();
        let mut answers: Vec<_> = (parts("run-1", &bytes, &"0".repeat(64), 5).into_iter())
            .filter_map(|p| r.take(p))
            .collect();
        assert_eq!(answers.len(), 1);
        assert!(
            !answers[0].ok && answers[0].error.contains("SHA-256"),
            "{:?}",
            answers[0]
        );
        assert!(check_held("run-1", &media).is_err());
        // Out of order: the second piece first.
        let mut pieces = parts("run-2", &bytes, &digest, 5);
        pieces.swap(0, 1);
        let mut r = Receiver::default();
        answers = pieces.into_iter().filter_map(|p| r.take(p)).collect();
        assert!(answers.iter().all(|a| !a.ok), "{answers:?}");
        // In order: held, and a request weaves it in at its character.
        let mut r = Receiver::default();
        answers = (parts("run-3", &bytes, &digest, 5).into_iter())
            .filter_map(|p| r.take(p))
            .collect();
        assert_eq!(answers.len(), 1);
        assert!(answers[0].ok && answers[0].images == 1, "{:?}", answers[0]);
        assert!(check_held("run-3", &media).is_ok());
        let err = check_held("run-4", &media).unwrap_err();
        assert!(err.contains("were not received"), "{err}");
        let item = MediaItem {
            kind: MediaKind::Stored {
                image: 0,
                resolution,
            },
            at: 3,
            variant: 0,
        };
        let (out, sent) = super::super::content_parts("ünï code", &[item]);
        assert_eq!(out[0]["text"], "ünï");
        let url = out[1]["image_url"]["url"].as_str().unwrap_or_default();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert_eq!(url, format!("data:image/png;base64,{b64}"));
        assert_eq!(out[2]["text"], " code");
        assert_eq!(sent.images.len(), 1);
        assert_eq!(sent.images[0].bytes, bytes.len() as u64);
    }
}
