//! inference-perf's synthetic multimodal section (`data.multimodal`,
//! `data.shared_prefix.multimodal`) under its key names, and the [`MediaMix`] the shard spec
//! carries. Generic over the count distribution `D` (the profile's `Distribution`), so that the
//! profile model can hold it; the checks are in `multimodal_check.rs`.

use fleetbench_model::data::{
    ImageEncoding, Insertion, LengthSpec, MediaMix, ModalityMix, Resolution, VideoEncoding,
    VideoShape, Weighted, MAX_MEDIA_SIDE, MAX_VIDEO_FRAMES,
};
use serde::{Deserialize, Serialize};

/// `multimodal`: synthetic images, videos and audio clips per request.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MultimodalConfig<D> {
    /// `image`.
    #[serde(default = "none")]
    pub image: Option<ImageConfig<D>>,
    /// `video`.
    #[serde(default = "none")]
    pub video: Option<VideoConfig<D>>,
    /// `audio`.
    #[serde(default = "none")]
    pub audio: Option<AudioConfig<D>>,
}

/// `insertion_point`: a fraction of the prompt (0 before, 1 after) or a distribution.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum InsertionPoint<D> {
    /// A fixed fraction.
    At(f64),
    /// Drawn per item.
    Drawn(D),
}

/// inference-perf's resolution presets.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum ResolutionPreset {
    /// 3840 × 2160.
    #[serde(rename = "4k")]
    P4k,
    /// 1920 × 1080.
    #[serde(rename = "1080p")]
    P1080,
    /// 1280 × 720.
    #[serde(rename = "720p")]
    P720,
    /// 640 × 360.
    #[serde(rename = "360p")]
    P360,
}

/// `{height, width}` in pixels.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Size {
    /// `height`.
    pub height: i64,
    /// `width`.
    pub width: i64,
}

/// A preset or an explicit size.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum AnyResolution {
    /// `"1080p"` and the others.
    Preset(ResolutionPreset),
    /// `{height, width}`.
    Size(Size),
}

/// `{resolution, weight}`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WeightedResolution {
    /// `resolution`.
    pub resolution: AnyResolution,
    /// `weight` (default 1).
    #[serde(default = "one")]
    pub weight: f64,
}

/// One resolution or a weighted list.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Resolutions {
    /// One.
    One(AnyResolution),
    /// Weighted.
    List(Vec<WeightedResolution>),
}

/// `image`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig<D> {
    /// `count`: images per request (absent: none).
    #[serde(default = "none")]
    pub count: Option<D>,
    /// `insertion_point` (absent: uniform over the prompt).
    #[serde(default = "none")]
    pub insertion_point: Option<InsertionPoint<D>>,
    /// `resolutions` (absent: 512 × 512).
    #[serde(default)]
    pub resolutions: Option<Resolutions>,
    /// `representation`: png (default) or jpeg.
    #[serde(default = "png")]
    pub representation: ImageEncoding,
}

/// `{resolution, frames}`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VideoProfile {
    /// `resolution`.
    pub resolution: AnyResolution,
    /// `frames`.
    pub frames: i64,
}

/// `{profile, weight}`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WeightedVideoProfile {
    /// `profile`.
    pub profile: VideoProfile,
    /// `weight` (default 1).
    #[serde(default = "one")]
    pub weight: f64,
}

/// One video profile or a weighted list.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum VideoProfiles {
    /// One.
    One(VideoProfile),
    /// Weighted.
    List(Vec<WeightedVideoProfile>),
}

/// `video.representation`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum VideoRepresentation {
    /// One `video_url` part with an H.264 MP4 (inference-perf's default).
    #[default]
    Mp4,
    /// `frames` PNG `image_url` parts.
    PngFrames,
    /// `frames` JPEG `image_url` parts.
    JpegFrames,
}

/// `video`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VideoConfig<D> {
    /// `count`: videos per request (absent: none).
    #[serde(default = "none")]
    pub count: Option<D>,
    /// `insertion_point`.
    #[serde(default = "none")]
    pub insertion_point: Option<InsertionPoint<D>>,
    /// `profiles` (absent: 512 × 512, 10 frames).
    #[serde(default)]
    pub profiles: Option<VideoProfiles>,
    /// `representation`.
    #[serde(default)]
    pub representation: VideoRepresentation,
}

/// `{duration, weight}`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WeightedDuration {
    /// `duration` in seconds.
    pub duration: f64,
    /// `weight` (default 1).
    #[serde(default = "one")]
    pub weight: f64,
}

/// One duration or a weighted list.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Durations {
    /// Seconds.
    One(f64),
    /// Weighted.
    List(Vec<WeightedDuration>),
}

/// `audio`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AudioConfig<D> {
    /// `count`: clips per request (absent: none).
    #[serde(default = "none")]
    pub count: Option<D>,
    /// `insertion_point`.
    #[serde(default = "none")]
    pub insertion_point: Option<InsertionPoint<D>>,
    /// `durations` in seconds (absent: 1 s).
    #[serde(default)]
    pub durations: Option<Durations>,
}

/// `None` for a generic field (serde's plain `default` would ask `D: Default`).
fn none<T>() -> Option<T> {
    None
}

fn one() -> f64 {
    1.0
}

fn png() -> ImageEncoding {
    ImageEncoding::Png
}

impl AnyResolution {
    /// Width and height (presets as inference-perf maps them).
    pub fn wh(self) -> (i64, i64) {
        match self {
            AnyResolution::Preset(ResolutionPreset::P4k) => (3840, 2160),
            AnyResolution::Preset(ResolutionPreset::P1080) => (1920, 1080),
            AnyResolution::Preset(ResolutionPreset::P720) => (1280, 720),
            AnyResolution::Preset(ResolutionPreset::P360) => (640, 360),
            AnyResolution::Size(s) => (s.width, s.height),
        }
    }

    fn resolution(self) -> Resolution {
        let (w, h) = self.wh();
        let px = |v: i64| v.clamp(1, i64::from(MAX_MEDIA_SIDE)) as u32;
        Resolution {
            width: px(w),
            height: px(h),
        }
    }
}

pub(crate) fn insertion<D>(
    p: Option<&InsertionPoint<D>>,
    count: &impl Fn(&D) -> LengthSpec,
) -> Insertion {
    match p {
        None => Insertion::Uniform,
        Some(InsertionPoint::At(x)) => Insertion::At(*x),
        Some(InsertionPoint::Drawn(d)) => Insertion::Drawn(count(d)),
    }
}

impl<D> MultimodalConfig<D> {
    /// The mix the shard spec carries (a checked section), each distribution of a count or an
    /// insertion point as `count` turns it into drawn values.
    pub fn mix(&self, count: impl Fn(&D) -> LengthSpec) -> MediaMix {
        let image = self.image.as_ref().map(|i| {
            let sizes = match &i.resolutions {
                None => vec![],
                Some(Resolutions::One(r)) => vec![weighted(r.resolution(), 1.0)],
                Some(Resolutions::List(l)) => (l.iter())
                    .map(|r| weighted(r.resolution.resolution(), r.weight))
                    .collect(),
            };
            (
                modality(&i.count, &i.insertion_point, sizes, &count),
                i.representation,
            )
        });
        let video = self.video.as_ref().map(|v| {
            let shape = |p: &VideoProfile| VideoShape {
                resolution: p.resolution.resolution(),
                frames: p.frames.clamp(1, i64::from(MAX_VIDEO_FRAMES)) as u32,
            };
            let sizes = match &v.profiles {
                None => vec![],
                Some(VideoProfiles::One(p)) => vec![weighted(shape(p), 1.0)],
                Some(VideoProfiles::List(l)) => l
                    .iter()
                    .map(|p| weighted(shape(&p.profile), p.weight))
                    .collect(),
            };
            let encoding = match v.representation {
                VideoRepresentation::Mp4 => VideoEncoding::Mp4,
                VideoRepresentation::PngFrames => VideoEncoding::Png,
                VideoRepresentation::JpegFrames => VideoEncoding::Jpeg,
            };
            (
                modality(&v.count, &v.insertion_point, sizes, &count),
                encoding,
            )
        });
        let audio = self.audio.as_ref().map(|a| {
            let sizes = match &a.durations {
                None => vec![],
                Some(Durations::One(s)) => vec![weighted(*s, 1.0)],
                Some(Durations::List(l)) => {
                    l.iter().map(|d| weighted(d.duration, d.weight)).collect()
                }
            };
            modality(&a.count, &a.insertion_point, sizes, &count)
        });
        MediaMix {
            image,
            video,
            audio,
        }
    }
}

fn weighted<T>(value: T, weight: f64) -> Weighted<T> {
    Weighted { value, weight }
}

fn modality<T, D>(
    n: &Option<D>,
    at: &Option<InsertionPoint<D>>,
    sizes: Vec<Weighted<T>>,
    count: &impl Fn(&D) -> LengthSpec,
) -> ModalityMix<T> {
    ModalityMix {
        count: n.as_ref().map(count),
        insertion: insertion(at.as_ref(), count),
        sizes,
    }
}
