//! Real images a dataset carries (inference-perf's `visionarena`): the coordinator reads them
//! once, the shard spec names each by its SHA-256 digest ([`StoredMedia`]) and every agent
//! receives their bytes over its control stream before the run's preflight, so the spec never
//! carries bytes. Request j of a [`DataSource::Prompts`](super::DataSource::Prompts) source
//! sends its entry's images ([`PromptEntry::images`](super::PromptEntry::images)), each placed at
//! a fraction of the prompt's characters, as inference-perf cuts real text.

use super::media::{Insertion, MediaItem, MediaKind, Resolution};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The most bytes of images one run's dataset may carry (every agent holds them all).
pub const MAX_STORED_MEDIA_BYTES: u64 = 1 << 30;

/// The largest single image a dataset may carry.
pub const MAX_STORED_IMAGE_BYTES: u64 = 64 << 20;

/// The name of an image's bytes in the shard spec: their SHA-256, lowercase hex (the coordinator
/// names the images with it, the agent checks what it received against it).
pub fn image_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    (sha2::Sha256::digest(bytes).iter())
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One image of a dataset, as the shard spec names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredImage {
    /// The SHA-256 of its bytes, lowercase hex.
    pub digest: String,
    /// Its MIME type (`image/jpeg`, `image/png`, `image/webp`): its bytes are sent as they are.
    pub mime: String,
    /// Its size in pixels, from its header.
    pub resolution: Resolution,
    /// Its encoded size.
    pub bytes: u64,
}

/// A dataset's images and where in a prompt they go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMedia {
    /// The images; an entry names them by index.
    pub images: Vec<StoredImage>,
    /// Where each image goes (`visionarena.insertion_point`).
    pub insertion: Insertion,
}

impl StoredMedia {
    /// The items of a request whose entry names `images`, placed among the `chars` characters
    /// of its prompt: each at its own fraction (drawn from `seed` where the insertion point is
    /// drawn), in prompt order.
    pub fn items(&self, images: &[u32], seed: u64, chars: u32) -> Vec<MediaItem> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5354_4F52);
        let mut items: Vec<MediaItem> = (images.iter())
            .filter_map(|&i| self.images.get(i as usize).map(|m| (i, m.resolution)))
            .map(|(image, resolution)| {
                let at = self.insertion.fraction(&mut rng);
                MediaItem {
                    kind: MediaKind::Stored { image, resolution },
                    at: (at * f64::from(chars)).floor() as u32,
                    variant: 0,
                }
            })
            .collect();
        items.sort_by_key(|i| i.at);
        items
    }

    /// The bytes of all images.
    pub fn total_bytes(&self) -> u64 {
        self.images.iter().map(|i| i.bytes).sum()
    }

    /// A short description for `coordinator validate`.
    pub fn describe(&self) -> String {
        let mut mimes: Vec<&str> = self.images.iter().map(|i| i.mime.as_str()).collect();
        mimes.sort_unstable();
        mimes.dedup();
        format!(
            "{} dataset images ({}; {:.1} MiB, sent to every agent before the run)",
            self.images.len(),
            mimes.join(", "),
            self.total_bytes() as f64 / f64::from(1u32 << 20)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::LengthSpec;

    fn media(insertion: Insertion) -> StoredMedia {
        let image = |n: u32| StoredImage {
            digest: format!("{n:064x}"),
            mime: "image/png".into(),
            resolution: Resolution {
                width: n,
                height: 2,
            },
            bytes: 10,
        };
        StoredMedia {
            images: vec![image(1), image(2), image(3)],
            insertion,
        }
    }

    #[test]
    fn items_are_placed_at_their_fraction_of_the_characters() {
        let at_start = media(Insertion::At(0.0)).items(&[2, 0], 1, 40);
        let kinds: Vec<_> = at_start.iter().map(|i| (i.kind, i.at)).collect();
        let stored = |image: u32, width: u32| MediaKind::Stored {
            image,
            resolution: Resolution { width, height: 2 },
        };
        assert_eq!(kinds, [(stored(2, 3), 0), (stored(0, 1), 0)]);
        let half = media(Insertion::At(0.5)).items(&[1], 1, 41);
        assert_eq!(half[0].at, 20);
        // An index past the images names none.
        assert!(media(Insertion::At(1.0)).items(&[7], 1, 5).is_empty());
    }

    #[test]
    fn drawn_points_are_a_function_of_the_seed_and_stay_in_the_prompt() {
        let m = media(Insertion::Uniform);
        assert_eq!(m.items(&[0, 1], 9, 100), m.items(&[0, 1], 9, 100));
        for seed in 0..50 {
            let items = m.items(&[0, 1, 2], seed, 100);
            assert!(items.windows(2).all(|w| w[0].at <= w[1].at));
            assert!(items.iter().all(|i| i.at <= 100));
        }
        let drawn = media(Insertion::Drawn(LengthSpec::fixed(1))).items(&[0], 3, 10);
        assert_eq!(drawn[0].at, 10);
    }
}
