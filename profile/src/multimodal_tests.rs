//! `data.multimodal` and `data.shared_prefix.multimodal`: inference-perf's keys parsed into the
//! mix the shard spec carries, the limits named in each error, the refusals with their reason,
//! and a shared prefix's media the same for every request of its group.

use super::*;
use crate::test_support::Section;
use fleetbench_model::data::{ImageEncoding, Insertion, MediaKind, Resolution, VideoEncoding};

const HEAD: &str = "server: {base_url: 'http://127.0.0.1:8000', model_name: m}\n\
api: {type: chat, streaming: true}\n\
load: {type: constant, stages: [{rate: 1, duration: 2}]}\n";

const DATA: Section = Section {
    head: HEAD,
    key: "data",
    file: "profiles/mm.yaml",
};

/// `data` with text lengths added for the types that need them.
fn with_lengths(data: &str) -> String {
    const LENGTHS: &str =
        "input_distribution: {type: fixed, mean: 5}, output_distribution: {type: fixed, mean: 2},";
    data.replace(
        "{type: synthetic,",
        &format!("{{type: synthetic, {LENGTHS}"),
    )
    .replace("{type: random,", &format!("{{type: random, {LENGTHS}"))
}

fn parse(data: &str) -> Result<LoadedProfile, ProfileError> {
    DATA.parse(&with_lengths(data))
}

fn err_of(data: &str) -> String {
    DATA.err_of(&with_lengths(data))
}

#[test]
fn inference_perfs_keys_become_the_mix() {
    let lp = parse(
        "{type: synthetic, multimodal: {image: {count: {type: uniform, min: 0, max: 3}, insertion_point: 0.25, \
         resolutions: [{resolution: 720p, weight: 3}, {resolution: {height: 10, width: 20}}], representation: jpeg}, \
         video: {count: {type: fixed, mean: 1}, representation: png_frames, profiles: {resolution: 360p, frames: 4}}, \
         audio: {count: {type: fixed, mean: 2}, insertion_point: {type: uniform, min: 0, max: 1}, durations: 2.5}}}",
    )
    .unwrap();
    let mix = crate::multimodal_check::mix_of(lp.profile.data.multimodal.as_ref().unwrap());
    let (image, encoding) = mix.image.clone().unwrap();
    assert_eq!(encoding, ImageEncoding::Jpeg);
    assert_eq!(image.insertion, Insertion::At(0.25));
    let count = image.count.unwrap();
    assert_eq!((count.min, count.max), (0, 3));
    let sizes: Vec<(u32, u32, f64)> = (image.sizes.iter())
        .map(|s| (s.value.width, s.value.height, s.weight))
        .collect();
    assert_eq!(sizes, [(1280, 720, 3.0), (20, 10, 1.0)]);
    let (video, frames) = mix.video.clone().unwrap();
    assert_eq!(frames, VideoEncoding::Png);
    assert_eq!(video.sizes[0].value.frames, 4);
    let audio = mix.audio.clone().unwrap();
    assert!(matches!(audio.insertion, Insertion::Drawn(_)));
    assert_eq!(audio.sizes[0].value, 2.5);
    // 3 images + 4 frames + 2 clips.
    assert_eq!(mix.most_parts(), 9);
}

#[test]
fn a_video_without_representation_is_one_mp4_part_as_in_inference_perf() {
    let lp = parse(
        "{type: synthetic, multimodal: {video: {count: {type: fixed, mean: 2}, \
         profiles: [{profile: {resolution: 720p, frames: 32}, weight: 1}]}}}",
    )
    .unwrap();
    let mix = crate::multimodal_check::mix_of(lp.profile.data.multimodal.as_ref().unwrap());
    let (video, encoding) = mix.video.clone().unwrap();
    assert_eq!(encoding, VideoEncoding::Mp4);
    assert_eq!(video.sizes[0].value.frames, 32);
    // Two videos of 32 frames are two parts: far below the 64-part limit that 64 frames
    // sent as images would reach.
    assert_eq!(mix.most_parts(), 2);
}

#[test]
fn limits_and_refusals_name_the_key_and_the_limit() {
    for (data, key, why) in [
        (
            "{type: synthetic, multimodal: {image: {count: {type: fixed, mean: 1}, resolutions: {height: 9000, width: 10}}}}",
            "data.multimodal.image.resolutions",
            "1 to 8192 pixels",
        ),
        (
            "{type: synthetic, multimodal: {video: {count: {type: fixed, mean: 1}, representation: jpeg_frames, profiles: [{profile: {resolution: 360p, frames: 65}}]}}}",
            "data.multimodal.video.profiles.0.frames",
            "1 to 64 frames",
        ),
        (
            "{type: synthetic, multimodal: {audio: {count: {type: fixed, mean: 1}, durations: [{duration: 121}]}}}",
            "data.multimodal.audio.durations.0.duration",
            "at most 120 seconds",
        ),
        (
            "{type: synthetic, multimodal: {audio: {count: {type: fixed, mean: 1}, durations: [{duration: 1, weight: -1}]}}}",
            "data.multimodal.audio.durations.0.weight",
            "≥ 0",
        ),
        (
            "{type: synthetic, multimodal: {image: {count: {type: fixed, mean: 1}, insertion_point: 1.5}}}",
            "data.multimodal.image.insertion_point",
            "0.0 (before) to 1.0",
        ),
        (
            "{type: synthetic, multimodal: {image: {count: {type: uniform, min: 1, max: 65}}}}",
            "data.multimodal",
            "limit is 64 per request",
        ),
        (
            "{type: random, multimodal: {image: {count: {type: fixed, mean: 1}}}}",
            "data.multimodal",
            "data type random",
        ),
        (
            "{type: synthetic, multimodal: {image: {count: {type: fixed, mean: 1}, colour: red}}}",
            "colour",
            "unknown field",
        ),
    ] {
        let err = err_of(data);
        assert!(err.contains(key) && err.contains(why), "{data}: {err}");
    }
    let err = err_of("{type: shared_prefix, shared_prefix: {enable_multi_turn_chat: true, multimodal: {image: {count: {type: fixed, mean: 1}}}}}");
    assert!(
        err.contains("data.shared_prefix.multimodal") && err.contains("enable_multi_turn_chat"),
        "{err}"
    );
    // VisionArena's bounds are checked before its dataset is read.
    for (section, key, why) in [
        (
            "{num_rows: 0}",
            "data.visionarena.num_rows",
            "from 1 to 2048",
        ),
        (
            "{num_rows: 3000}",
            "data.visionarena.num_rows",
            "from 1 to 2048",
        ),
        (
            "{max_images_per_request: 0}",
            "data.visionarena.max_images_per_request",
            "from 1",
        ),
        (
            "{insertion_point: 1.5}",
            "data.visionarena.insertion_point",
            "fraction",
        ),
        (
            "{hf_split: test, hf_data_files: 'x/*.parquet'}",
            "data.visionarena.hf_split",
            "train",
        ),
        (
            "{hf_dataset_name: a/b/c}",
            "data.visionarena.hf_dataset_name",
            "ORG/NAME",
        ),
        ("{num_row: 3}", "unknown field `num_row`", "num_rows"),
    ] {
        let err = err_of(&format!("{{type: visionarena, visionarena: {section}}}"));
        assert!(err.contains(key) && err.contains(why), "{section}: {err}");
    }
}

#[test]
fn a_groups_prefix_media_are_the_same_and_its_own_media_follow_the_system_prompt() {
    let lp = parse(
        "{type: shared_prefix, multimodal: {image: {count: {type: fixed, mean: 1}, insertion_point: 1.0, resolutions: 360p}}, \
         shared_prefix: {num_groups: 2, num_prompts_per_group: 3, system_prompt_len: 10, question_len: 4, output_len: 2, \
         multimodal: {image: {count: {type: fixed, mean: 1}, insertion_point: 0.0, resolutions: 720p}}}}",
    )
    .unwrap();
    let spec = crate::data::plan::plan_data(&lp, 7);
    let r0 = spec.request(11, 0);
    let r2 = spec.request(11, 2);
    let r1 = spec.request(11, 1);
    let res = |w, h| Resolution {
        width: w,
        height: h,
    };
    let sizes = |c: &fleetbench_model::data::RequestContent| -> Vec<(u32, Resolution)> {
        (c.media.iter())
            .map(|m| match m.kind {
                MediaKind::Image { resolution, .. } => (m.at, resolution),
                _ => panic!("{m:?}"),
            })
            .collect()
    };
    // The prefix's 720p image before the system prompt, the own 360p one after the question.
    assert_eq!(sizes(&r0), [(0, res(1280, 720)), (14, res(640, 360))]);
    // Group 0's requests 0 and 2 send the same prefix image; group 1's another draw.
    assert_eq!(r0.media[0], r2.media[0]);
    assert_eq!(r0.media[0].kind, r1.media[0].kind);
    assert_eq!(
        spec.request(11, 0),
        r0,
        "request j is a function of the seed and j"
    );
}
