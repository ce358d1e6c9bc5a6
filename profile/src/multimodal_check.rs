//! The checks of the multimodal sections (`data.multimodal`, `data.shared_prefix.multimodal`):
//! chat API only, the data types that read them, and the limits, each named in its error.

use crate::distribution::check_distribution;
use crate::error::ProfileError;
use crate::model::{DataType, Distribution, Profile};
use crate::multimodal::{
    AnyResolution, Durations, InsertionPoint, MultimodalConfig, Resolutions, VideoProfile,
    VideoProfiles,
};
use fleetbench_model::data::{
    LengthDist, LengthSpec, MediaMix, MAX_AUDIO_SECONDS, MAX_MEDIA_PARTS, MAX_MEDIA_SIDE,
    MAX_VIDEO_FRAMES,
};
use fleetbench_model::settings::ApiType;
use std::path::Path;

/// A count (or insertion point) distribution as drawn values: 0 allowed, fixed is `int(mean)`.
pub(crate) fn count_spec(d: &Distribution) -> LengthSpec {
    let mut l = LengthSpec::from(d);
    if d.shape() == LengthDist::Fixed {
        l.min = l.mean as u32;
        l.max = l.mean as u32;
    } else {
        l.min = d.lo().min(l.max);
    }
    l
}

/// The mix a profile's section becomes in the shard spec.
pub(crate) fn mix_of(m: &MultimodalConfig<Distribution>) -> MediaMix {
    m.mix(count_spec)
}

/// The multimodal sections of a profile, checked: chat API only, data types synthetic and
/// shared_prefix, sizes, frames, durations, weights and insertion points within their limits,
/// and at most [`MAX_MEDIA_PARTS`] media parts per request.
pub(crate) fn check(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let d = &p.data;
    let sp = d.shared_prefix.as_ref().and_then(|s| s.multimodal.as_ref());
    let sections = [
        ("data.multimodal", d.multimodal.as_ref()),
        ("data.shared_prefix.multimodal", sp),
    ];
    // What inference-perf's loader accepts but fleetbench cannot send, with the reason.
    let unsupported = |key: &str, reason: &str| ProfileError::NotSupported {
        file: file.to_path_buf(),
        key: key.to_string(),
        reason: reason.to_string(),
        line: None,
    };
    let mut parts = 0u64;
    for (key, section) in sections {
        let Some(m) = section else { continue };
        if p.api.kind != ApiType::Chat {
            return Err(unsupported(key, "media are sent as content parts of a chat message, which only api.type chat has (inference-perf's multimodal generator supports chat only); set api.type: chat"));
        }
        if key == "data.multimodal"
            && !matches!(d.kind, DataType::Synthetic | DataType::SharedPrefix)
        {
            return Err(unsupported(key, &format!("it is read by data types synthetic and shared_prefix only, and inference-perf ignores it for data type {}; use data.type: synthetic", d.kind.name())));
        }
        if d.shared_prefix
            .as_ref()
            .is_some_and(|s| s.enable_multi_turn_chat)
        {
            return Err(unsupported(key, "media in multi-turn shared-prefix chats (enable_multi_turn_chat) are not implemented; drop enable_multi_turn_chat"));
        }
        check_section(key, m, file)?;
        parts += mix_of(m).most_parts();
    }
    if parts > MAX_MEDIA_PARTS {
        return Err(ProfileError::Invalid {
            file: file.to_path_buf(),
            key: "data.multimodal".into(),
            message: format!("a request may carry up to {parts} media parts (images, audio clips and video frames at the count distributions' largest values, shared prefix included); the limit is {MAX_MEDIA_PARTS} per request"),
        });
    }
    Ok(())
}

fn check_section(
    key: &str,
    m: &MultimodalConfig<Distribution>,
    file: &Path,
) -> Result<(), ProfileError> {
    let invalid = |k: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: format!("{key}.{k}"),
        message,
    };
    let common =
        |k: &str, count: &Option<Distribution>, at: &Option<InsertionPoint<Distribution>>| {
            if let Some(c) = count {
                check_distribution(&format!("{key}.{k}.count"), c, file)?;
            }
            match at {
                Some(InsertionPoint::At(x)) if !(0.0..=1.0).contains(x) => Err(invalid(
                    &format!("{k}.insertion_point"),
                    format!(
                    "must be a fraction of the prompt from 0.0 (before) to 1.0 (after), got {x}"
                ),
                )),
                Some(InsertionPoint::Drawn(d)) => {
                    check_distribution(&format!("{key}.{k}.insertion_point"), d, file)
                }
                _ => Ok(()),
            }
        };
    let size = |k: &str, r: AnyResolution| {
        let (w, h) = r.wh();
        if (1..=i64::from(MAX_MEDIA_SIDE)).contains(&w)
            && (1..=i64::from(MAX_MEDIA_SIDE)).contains(&h)
        {
            return Ok(());
        }
        Err(invalid(
            k,
            format!("{w}x{h}: width and height must be 1 to {MAX_MEDIA_SIDE} pixels"),
        ))
    };
    let weight = |k: &str, w: f64| match w.is_finite() && w >= 0.0 {
        true => Ok(()),
        false => Err(invalid(k, format!("must be a number ≥ 0, got {w}"))),
    };
    if let Some(i) = &m.image {
        common("image", &i.count, &i.insertion_point)?;
        match &i.resolutions {
            Some(Resolutions::One(r)) => size("image.resolutions", *r)?,
            Some(Resolutions::List(l)) => {
                for (n, r) in l.iter().enumerate() {
                    size(&format!("image.resolutions.{n}.resolution"), r.resolution)?;
                    weight(&format!("image.resolutions.{n}.weight"), r.weight)?;
                }
            }
            None => {}
        }
    }
    if let Some(v) = &m.video {
        common("video", &v.count, &v.insertion_point)?;
        let profiles: Vec<(String, VideoProfile, f64)> = match &v.profiles {
            Some(VideoProfiles::One(p)) => vec![("video.profiles".into(), *p, 1.0)],
            Some(VideoProfiles::List(l)) => (l.iter().enumerate())
                .map(|(n, p)| (format!("video.profiles.{n}"), p.profile, p.weight))
                .collect(),
            None => vec![],
        };
        for (k, p, w) in profiles {
            size(&format!("{k}.resolution"), p.resolution)?;
            if !(1..=i64::from(MAX_VIDEO_FRAMES)).contains(&p.frames) {
                return Err(invalid(
                    &format!("{k}.frames"),
                    format!(
                        "must be 1 to {MAX_VIDEO_FRAMES} frames per video, got {}",
                        p.frames
                    ),
                ));
            }
            weight(&format!("{k}.weight"), w)?;
        }
    }
    if let Some(a) = &m.audio {
        common("audio", &a.count, &a.insertion_point)?;
        let durations: Vec<(String, f64, f64)> = match &a.durations {
            Some(Durations::One(s)) => vec![("audio.durations".into(), *s, 1.0)],
            Some(Durations::List(l)) => (l.iter().enumerate())
                .map(|(n, d)| {
                    (
                        format!("audio.durations.{n}.duration"),
                        d.duration,
                        d.weight,
                    )
                })
                .collect(),
            None => vec![],
        };
        for (k, s, w) in durations {
            if !(s.is_finite() && s > 0.0 && s <= MAX_AUDIO_SECONDS) {
                return Err(invalid(
                    &k,
                    format!(
                        "must be above 0 and at most {MAX_AUDIO_SECONDS} seconds per clip, got {s}"
                    ),
                ));
            }
            let weight_key = k.strip_suffix(".duration").unwrap_or(&k);
            weight(&format!("{weight_key}.weight"), w)?;
        }
    }
    Ok(())
}
