//! Synthetic multimodal media (inference-perf's `data.multimodal` and
//! `data.shared_prefix.multimodal`). The shard spec carries the distributions ([`MediaMix`]),
//! never bytes; request j draws its media items ([`MediaItem`]: kind, size, encoding, where in
//! the prompt, a variant) from its own seed, so every agent draws the same items for request j.
//! The agent renders an item into OpenAI content parts (`agent/src/media/`).

use super::length::LengthSpec;
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Most media content parts one request may carry (images, audio clips and video frames of
/// both the shared prefix and the request's own media): checked on the worst case of the
/// count distributions.
pub const MAX_MEDIA_PARTS: u64 = 64;

/// Longest side of an image or video frame, in pixels.
pub const MAX_MEDIA_SIDE: u32 = 8192;

/// Most frames of one video.
pub const MAX_VIDEO_FRAMES: u32 = 64;

/// Longest audio clip, in seconds (a 16 kHz 16-bit mono WAV: 32 kB per second).
pub const MAX_AUDIO_SECONDS: f64 = 120.0;

/// Distinct pixel contents per image shape: a request's item takes variant `0..MEDIA_VARIANTS`
/// (a solid colour), so the agent encodes each shape at most this many times.
pub const MEDIA_VARIANTS: u32 = 64;

/// An image's wire encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageEncoding {
    /// `image/png`.
    Png,
    /// `image/jpeg`.
    Jpeg,
}

impl ImageEncoding {
    /// The MIME type of a data URL.
    pub fn mime(self) -> &'static str {
        match self {
            ImageEncoding::Png => "image/png",
            ImageEncoding::Jpeg => "image/jpeg",
        }
    }
}

/// A video's wire form: its frames as `image_url` parts in an image encoding (`png_frames`,
/// `jpeg_frames`), or one `video_url` part with an H.264 MP4 (`mp4`, inference-perf's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoEncoding {
    /// Frames as `image/png` parts.
    Png,
    /// Frames as `image/jpeg` parts.
    Jpeg,
    /// One `video/mp4` part.
    Mp4,
}

impl VideoEncoding {
    /// The encoding of each frame when frames are sent as images (`None`: one MP4).
    pub fn frame(self) -> Option<ImageEncoding> {
        match self {
            VideoEncoding::Png => Some(ImageEncoding::Png),
            VideoEncoding::Jpeg => Some(ImageEncoding::Jpeg),
            VideoEncoding::Mp4 => None,
        }
    }

    /// Content parts of one video of `frames` frames.
    pub fn parts(self, frames: u32) -> u32 {
        match self.frame() {
            Some(_) => frames,
            None => 1,
        }
    }
}

/// A value of a weighted list.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weighted<T> {
    /// The value.
    pub value: T,
    /// Its relative frequency.
    pub weight: f64,
}

/// Width and height in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resolution {
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
}

/// A video's frame size and frame count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VideoShape {
    /// Frame size.
    pub resolution: Resolution,
    /// Frames.
    pub frames: u32,
}

/// Where an item goes in its prompt, as a fraction of its words (0: before, 1: after).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Insertion {
    /// Uniform over the prompt (inference-perf's default).
    Uniform,
    /// At this fraction.
    At(f64),
    /// Drawn from a distribution (inference-perf's integer draw, clamped to 0..=1).
    Drawn(LengthSpec),
}

impl Insertion {
    /// One item's fraction of its prompt, in 0..=1 (drawn from `rng` unless fixed).
    pub(crate) fn fraction(&self, rng: &mut ChaCha8Rng) -> f64 {
        match self {
            Insertion::Uniform => rng.random::<f64>(),
            Insertion::At(x) => *x,
            Insertion::Drawn(d) => f64::from(d.draw(rng)),
        }
        .clamp(0.0, 1.0)
    }
}

/// One modality's generator: how many items, where, and of which sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModalityMix<T> {
    /// Items per request (none: no item, as inference-perf without `count`).
    pub count: Option<LengthSpec>,
    /// Where each item goes.
    pub insertion: Insertion,
    /// The sizes to pick from (images: resolutions; video: shapes; audio: seconds).
    pub sizes: Vec<Weighted<T>>,
}

/// The synthetic media of a request: inference-perf's `multimodal` section as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MediaMix {
    /// Images and their encoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<(ModalityMix<Resolution>, ImageEncoding)>,
    /// Videos, as frames (`png_frames`, `jpeg_frames`) or one MP4 each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<(ModalityMix<VideoShape>, VideoEncoding)>,
    /// Audio clips (silent 16 kHz mono WAV), sizes in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<ModalityMix<f64>>,
}

/// What one media item is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// One `image_url` part.
    Image {
        /// Its size.
        resolution: Resolution,
        /// Its encoding.
        encoding: ImageEncoding,
    },
    /// `frames` `image_url` parts at one place, or one `video_url` part (MP4).
    Video {
        /// Its shape.
        shape: VideoShape,
        /// Its wire form.
        encoding: VideoEncoding,
    },
    /// One `input_audio` part (WAV), this many milliseconds long.
    Audio {
        /// Duration in milliseconds.
        millis: u32,
    },
    /// One `image_url` part with a dataset's image, sent as it was read (see
    /// [`StoredMedia`](super::StoredMedia)).
    Stored {
        /// Its index in the spec's stored images.
        image: u32,
        /// Its size.
        resolution: Resolution,
    },
}

/// One media item of a request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MediaItem {
    /// What it is.
    pub kind: MediaKind,
    /// Where it goes: before prompt word `at` (the prompt's word count: after the text); a
    /// [`MediaKind::Stored`] image before prompt character `at` (a Unicode scalar value), as
    /// inference-perf cuts a dataset's text.
    pub at: u32,
    /// Which of the [`MEDIA_VARIANTS`] pixel contents it has.
    pub variant: u32,
}

impl MediaItem {
    /// The content parts it becomes.
    pub fn parts(&self) -> u32 {
        match self.kind {
            MediaKind::Video { shape, encoding } => encoding.parts(shape.frames),
            _ => 1,
        }
    }
}

/// Sizes used when a modality names none (inference-perf's defaults).
const DEFAULT_IMAGE: Resolution = Resolution {
    width: 512,
    height: 512,
};
const DEFAULT_VIDEO: VideoShape = VideoShape {
    resolution: DEFAULT_IMAGE,
    frames: 10,
};
const DEFAULT_AUDIO_S: f64 = 1.0;

impl<T: Copy> ModalityMix<T> {
    fn pick(&self, rng: &mut ChaCha8Rng, default: T) -> T {
        let total: f64 = self.sizes.iter().map(|s| s.weight.max(0.0)).sum();
        if self.sizes.len() == 1 || total <= 0.0 {
            return self.sizes.first().map_or(default, |s| s.value);
        }
        let u = rng.random::<f64>() * total;
        let mut acc = 0.0;
        for s in &self.sizes {
            acc += s.weight.max(0.0);
            if u < acc {
                return s.value;
            }
        }
        self.sizes.last().map_or(default, |s| s.value)
    }

    /// Draws this modality's items: `(size, fraction)` each.
    fn draw(&self, rng: &mut ChaCha8Rng, default: T) -> Vec<(T, f64)> {
        let n = self.count.map_or(0, |c| c.draw(rng));
        (0..n)
            .map(|_| (self.pick(rng, default), self.insertion.fraction(rng)))
            .collect()
    }

    /// The most items a request may draw.
    fn most(&self) -> u64 {
        self.count.map_or(0, |c| u64::from(c.max.max(c.min)))
    }
}

impl MediaMix {
    /// The items of one request, drawn from `seed`, placed among `words` prompt words and
    /// shifted by `offset` words (a shared prefix's media sit in the system prompt, a request's
    /// own media in its question). Ordered by place, images before videos before audio at one
    /// place, as inference-perf weaves them.
    pub fn draw(&self, seed: u64, words: u32, offset: u32) -> Vec<MediaItem> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut items = Vec::new();
        let mut place = |kind: MediaKind, at: f64, rng: &mut ChaCha8Rng| {
            let word = offset + ((at * f64::from(words)).floor() as u32).min(words);
            let variant = rng.random_range(0..MEDIA_VARIANTS);
            items.push(MediaItem {
                kind,
                at: word,
                variant,
            });
        };
        if let Some((m, encoding)) = &self.image {
            for (resolution, at) in m.draw(&mut rng, DEFAULT_IMAGE) {
                let encoding = *encoding;
                place(
                    MediaKind::Image {
                        resolution,
                        encoding,
                    },
                    at,
                    &mut rng,
                );
            }
        }
        if let Some((m, encoding)) = &self.video {
            for (shape, at) in m.draw(&mut rng, DEFAULT_VIDEO) {
                let encoding = *encoding;
                place(MediaKind::Video { shape, encoding }, at, &mut rng);
            }
        }
        if let Some(m) = &self.audio {
            for (seconds, at) in m.draw(&mut rng, DEFAULT_AUDIO_S) {
                let millis = (seconds.clamp(0.0, MAX_AUDIO_SECONDS) * 1000.0).round() as u32;
                place(MediaKind::Audio { millis }, at, &mut rng);
            }
        }
        items.sort_by_key(|i| i.at);
        items
    }

    /// The most content parts one request may get from this mix (frames count one each).
    pub fn most_parts(&self) -> u64 {
        let image = self.image.as_ref().map_or(0, |(m, _)| m.most());
        let video = self.video.as_ref().map_or(0, |(m, e)| {
            let frames = m.sizes.iter().map(|s| s.value.frames).max();
            m.most() * u64::from(e.parts(frames.unwrap_or(DEFAULT_VIDEO.frames)))
        });
        let audio = self.audio.as_ref().map_or(0, ModalityMix::most);
        image + video + audio
    }

    /// A short description for `coordinator validate`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some((m, e)) = &self.image {
            let sizes: Vec<String> = (m.sizes.iter())
                .map(|s| format!("{}x{}", s.value.width, s.value.height))
                .collect();
            parts.push(format!("images {e:?} [{}]", sizes.join(", ")).to_lowercase());
        }
        if let Some((m, e)) = &self.video {
            let sizes: Vec<String> = (m.sizes.iter())
                .map(|s| {
                    let r = s.value.resolution;
                    format!("{}x{}x{}", r.width, r.height, s.value.frames)
                })
                .collect();
            let form = match e.frame() {
                Some(f) => format!("{f:?} frames"),
                None => "mp4 files".into(),
            };
            parts.push(format!("videos as {form} [{}]", sizes.join(", ")).to_lowercase());
        }
        if let Some(m) = &self.audio {
            let sizes: Vec<String> = m.sizes.iter().map(|s| format!("{}s", s.value)).collect();
            parts.push(format!("audio wav [{}]", sizes.join(", ")));
        }
        format!(
            "{} (at most {} media parts per request)",
            parts.join(", "),
            self.most_parts()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_mix(count: LengthSpec, insertion: Insertion) -> MediaMix {
        MediaMix {
            image: Some((
                ModalityMix {
                    count: Some(count),
                    insertion,
                    sizes: vec![
                        Weighted {
                            value: Resolution {
                                width: 64,
                                height: 32,
                            },
                            weight: 3.0,
                        },
                        Weighted {
                            value: Resolution {
                                width: 16,
                                height: 16,
                            },
                            weight: 1.0,
                        },
                    ],
                },
                ImageEncoding::Png,
            )),
            video: None,
            audio: Some(ModalityMix {
                count: Some(LengthSpec::fixed(1)),
                insertion: Insertion::At(1.0),
                sizes: vec![],
            }),
        }
    }

    #[test]
    fn draws_are_a_function_of_the_seed_and_follow_the_weights() {
        let mix = image_mix(LengthSpec::fixed(2), Insertion::Uniform);
        assert_eq!(mix.draw(7, 10, 0), mix.draw(7, 10, 0));
        let mut big = 0;
        for seed in 0..400 {
            let items = mix.draw(seed, 10, 5);
            assert_eq!(items.len(), 3);
            assert!(items.windows(2).all(|w| w[0].at <= w[1].at));
            assert!(items.iter().all(|i| (5..=15).contains(&i.at)));
            assert!(items.iter().all(|i| i.variant < MEDIA_VARIANTS));
            let audio = items
                .iter()
                .find(|i| matches!(i.kind, MediaKind::Audio { .. }));
            // Default duration 1 s, placed after the text.
            assert_eq!(
                audio.map(|a| (a.kind, a.at)),
                Some((MediaKind::Audio { millis: 1000 }, 15))
            );
            big += (items.iter())
                .filter(|i| {
                    matches!(i.kind, MediaKind::Image { resolution, .. } if resolution.width == 64)
                })
                .count();
        }
        // 800 images at weights 3:1.
        assert!((560..=640).contains(&big), "{big}");
    }

    #[test]
    fn no_count_means_no_items_and_most_parts_counts_frames() {
        let mut mix = image_mix(LengthSpec::fixed(2), Insertion::At(0.0));
        if let Some((m, _)) = &mut mix.image {
            m.count = None;
        }
        assert_eq!(mix.draw(1, 10, 0).len(), 1);
        mix.video = Some((
            ModalityMix {
                count: Some(LengthSpec::fixed(2)),
                insertion: Insertion::At(0.5),
                sizes: vec![],
            },
            VideoEncoding::Jpeg,
        ));
        // 2 videos of the default 10 frames, 1 audio clip.
        assert_eq!(mix.most_parts(), 21);
        let items = mix.draw(1, 10, 0);
        let parts: u32 = items.iter().map(MediaItem::parts).sum();
        assert_eq!(parts, 21);
        assert_eq!(items[0].at, 5);
        // As MP4s, each video is one part.
        if let Some((_, e)) = &mut mix.video {
            *e = VideoEncoding::Mp4;
        }
        assert_eq!(mix.most_parts(), 3);
        let parts: u32 = mix.draw(1, 10, 0).iter().map(MediaItem::parts).sum();
        assert_eq!(parts, 3);
    }
}
