//! What the ok requests carried (inference-perf's payload statistics, llm-d report 0.2.1's
//! `requests.request_size`, `requests.multimodal` and `throughput.{image,video,audio}_rate`):
//! built from a stage's merged histograms into `metrics.metadata.payload` of the 0.1 report, and
//! read back from there by the 0.2.1 builder. Definitions: docs/metrics.md, "Payload".

use super::benchmark_run::{BenchmarkRun, Statistics};
use fleetbench_model::measure::{Measurements, Metric};
use serde::{Deserialize, Serialize};

/// `metrics.metadata.payload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Payload {
    /// Bytes of an ok request's body, media included.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) request_size: Option<Statistics>,
    /// Per modality, in stages with `data.multimodal`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) multimodal: Option<Multimodal>,
    /// Media per second of the measured window, per modality (stages with media only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) rates: Option<MediaRates>,
}

/// `requests.multimodal` of report 0.2.1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Multimodal {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) image: Option<PictureStats>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) video: Option<PictureStats>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) audio: Option<AudioStats>,
}

/// An image's or a video's statistics (`ImagePayloadStats`, `VideoPayloadStats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PictureStats {
    /// Instances per ok request.
    pub(crate) count: Statistics,
    /// Encoded bytes per instance (a video's: all frames).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) filesize: Option<Statistics>,
    /// Width × height per instance (a video's: summed over its frames).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) pixels: Option<Statistics>,
    /// Width / height per instance.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) aspect_ratio: Option<Statistics>,
    /// Frames per video.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) frames: Option<Statistics>,
}

/// An audio clip's statistics (`AudioPayloadStats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AudioStats {
    /// Clips per ok request.
    pub(crate) count: Statistics,
    /// Encoded bytes per clip.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) filesize: Option<Statistics>,
    /// Seconds per clip.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) duration: Option<Statistics>,
}

/// Media sent by ok requests per second of the measured window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct MediaRates {
    pub(crate) images_per_s: f64,
    pub(crate) videos_per_s: f64,
    pub(crate) audios_per_s: f64,
}

/// The stage's payload statistics; `None` when no ok request was measured.
pub(crate) fn payload(m: &Measurements, per_s: impl Fn(u64) -> f64) -> Option<Payload> {
    let h = |metric| m.histogram(metric);
    let stat = |metric, units: &str, scale: f64| Statistics::from_integers(h(metric), units, scale);
    let request_size = stat(Metric::RequestBytes, "bytes", 1.0);
    let c = &m.counters;
    let count =
        |metric, sum| (!h(metric).is_empty()).then(|| Statistics::from_counts(h(metric), sum));
    let picture = |n: Metric, sum, bytes, pixels, aspect, frames: Option<Metric>| {
        count(n, sum).map(|count| PictureStats {
            count,
            filesize: stat(bytes, "bytes", 1.0),
            pixels: stat(pixels, "pixels", 1.0),
            aspect_ratio: stat(aspect, "ratio", 1e-3),
            frames: frames.and_then(|f| stat(f, "count", 1.0)),
        })
    };
    let image = picture(
        Metric::ImagesPerRequest,
        c.images,
        Metric::ImageBytes,
        Metric::ImagePixels,
        Metric::ImageAspectMilli,
        None,
    );
    let video = picture(
        Metric::VideosPerRequest,
        c.videos,
        Metric::VideoBytes,
        Metric::VideoPixels,
        Metric::VideoAspectMilli,
        Some(Metric::VideoFrames),
    );
    let audio = count(Metric::AudiosPerRequest, c.audios).map(|count| AudioStats {
        count,
        filesize: stat(Metric::AudioBytes, "bytes", 1.0),
        duration: stat(Metric::AudioMillis, "s", 1e-3),
    });
    let with_media = image.is_some() || video.is_some() || audio.is_some();
    if request_size.is_none() && !with_media {
        return None;
    }
    Some(Payload {
        request_size,
        multimodal: with_media.then_some(Multimodal {
            image,
            video,
            audio,
        }),
        rates: with_media.then(|| MediaRates {
            images_per_s: per_s(c.images),
            videos_per_s: per_s(c.videos),
            audios_per_s: per_s(c.audios),
        }),
    })
}

/// The payload statistics a 0.1 report carries in `metrics.metadata.payload`.
pub(crate) fn of_report(r: &BenchmarkRun) -> Option<Payload> {
    let v = r.metrics.metadata.as_ref()?.get("payload")?;
    serde_json::from_value(v.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_of_ok_requests_become_the_payload_statistics() {
        let mut m = Measurements::new();
        // Two ok requests: one with two 1920x1080 images, one with none, a 2 s clip each.
        for (images, body) in [(2u64, 3_000u64), (0, 1_000)] {
            m.record(Metric::RequestBytes, body);
            m.record(Metric::ImagesPerRequest, images);
            m.record(Metric::VideosPerRequest, 0);
            m.record(Metric::AudiosPerRequest, 1);
            m.counters.images += images;
            m.counters.audios += 1;
            for _ in 0..images {
                m.record(Metric::ImagePixels, 1920 * 1080);
                m.record(Metric::ImageBytes, 900);
                m.record(Metric::ImageAspectMilli, 1778);
            }
            m.record(Metric::AudioMillis, 2_000);
            m.record(Metric::AudioBytes, 64_044);
        }
        let p = payload(&m, |v| v as f64 / 2.0).unwrap();
        assert_eq!(p.request_size.as_ref().unwrap().units, "bytes");
        assert!((p.request_size.unwrap().mean - 2_000.0).abs() < 2.0);
        let mm = p.multimodal.unwrap();
        let image = mm.image.unwrap();
        assert_eq!(image.count.mean, 1.0);
        assert_eq!(image.count.max, Some(2.0));
        assert!((image.aspect_ratio.unwrap().mean - 1.778).abs() < 0.002);
        assert_eq!(image.pixels.unwrap().units, "pixels");
        assert!(image.frames.is_none());
        let video = mm.video.unwrap();
        assert_eq!(video.count.mean, 0.0);
        assert!(video.filesize.is_none());
        let audio = mm.audio.unwrap();
        assert!((audio.duration.unwrap().mean - 2.0).abs() < 0.002);
        let rates = p.rates.unwrap();
        assert_eq!((rates.images_per_s, rates.audios_per_s), (1.0, 1.0));

        // A text-only stage: the body size, no media block.
        let mut text = Measurements::new();
        text.record(Metric::RequestBytes, 500);
        let p = payload(&text, |v| v as f64).unwrap();
        assert!(p.multimodal.is_none() && p.rates.is_none());
        assert!(payload(&Measurements::new(), |v| v as f64).is_none());
    }
}
