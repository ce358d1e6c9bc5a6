//! inference-perf's synthetic multimodal data against the sim: images (JPEG), a video sent as
//! PNG frames and WAV audio clips woven into chat requests, each request's media parts and
//! prompt tokens checked against the sim's ground truth, and what the plan says request j
//! carries (`plan.json`'s shard specs, drawn again here).

use fleetbench_e2e::chaos::sim_with_truth;
use fleetbench_e2e::*;
use fleetbench_model::data::MediaKind;
use fleetbench_model::spec::ShardSpec;
use std::collections::BTreeMap;
use std::time::Duration;

/// The sim's charge for a media item (sim/src/media.rs): 28-pixel patches per image or frame,
/// 25 tokens per second of audio.
fn tokens(kind: &MediaKind) -> (u64, u64, u64) {
    let image = |w: u32, h: u32| u64::from(w.div_ceil(28)) * u64::from(h.div_ceil(28));
    match *kind {
        MediaKind::Image { resolution: r, .. } => (1, 0, image(r.width, r.height)),
        MediaKind::Video { shape, .. } => (
            u64::from(shape.frames),
            0,
            u64::from(shape.frames) * image(shape.resolution.width, shape.resolution.height),
        ),
        MediaKind::Audio { millis } => (0, 1, (f64::from(millis) * 25.0 / 1000.0).ceil() as u64),
    }
}

#[test]
fn image_video_and_audio_parts_reach_the_sim_and_its_usage() -> anyhow::Result<()> {
    let dir = scratch("multimodal_mix");
    let (_sim, sim, truth) = sim_with_truth(&dir)?;
    let profile = dir.join("profile.yaml");
    std::fs::write(
        &profile,
        format!(
            "server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
             api: {{type: chat, streaming: true}}\n\
             data:\n\
             \x20 type: synthetic\n\
             \x20 input_distribution: {{type: fixed, mean: 20}}\n\
             \x20 output_distribution: {{type: fixed, mean: 4}}\n\
             \x20 multimodal:\n\
             \x20   image:\n\
             \x20     count: {{type: uniform, min: 0, max: 2}}\n\
             \x20     resolutions: [{{resolution: {{width: 64, height: 48}}, weight: 3}}, {{resolution: {{height: 60, width: 100}}}}]\n\
             \x20     representation: jpeg\n\
             \x20   video: {{count: {{type: fixed, mean: 1}}, insertion_point: 0.5, representation: png_frames, profiles: {{resolution: {{width: 32, height: 32}}, frames: 2}}}}\n\
             \x20   audio:\n\
             \x20     count: {{type: fixed, mean: 1}}\n\
             \x20     insertion_point: 1.0\n\
             \x20     durations: [{{duration: 0.5}}, {{duration: 1.0, weight: 2}}]\n\
             load: {{type: constant, stages: [{{rate: 10, duration: 2}}]}}\n"
        ),
    )?;
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(90))?;
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(num(&r, "metrics.requests.total"), 20.0);
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);

    // What the plan says request j sends: (image parts, audio parts, media tokens).
    let plan: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("plan.json"))?)?;
    let spec: ShardSpec = serde_json::from_value(plan["stages"][0]["shards"][0].clone())?;
    let want = |j: u64| {
        let c = spec.data.request(spec.seed, j);
        assert_eq!(c.input_tokens, 20);
        c.media
            .iter()
            .map(|m| tokens(&m.kind))
            .fold((0, 0, 0), |a, t| (a.0 + t.0, a.1 + t.1, a.2 + t.2))
    };
    let mut seen = BTreeMap::new();
    let text = std::fs::read_to_string(&truth)?;
    let mut prompt_sum = 0u64;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let rec: serde_json::Value = serde_json::from_str(line)?;
        let id = rec["request_id"].as_str().unwrap_or_default().to_string();
        if id.starts_with("preflight-") {
            continue;
        }
        let j: u64 = id.rsplit('-').next().unwrap_or_default().parse()?;
        let get = |k: &str| rec[k].as_u64().unwrap_or(0);
        let (images, audios, media_tokens) = want(j);
        assert_eq!(
            (get("images"), get("audios"), get("media_tokens")),
            (images, audios, media_tokens),
            "request {id}"
        );
        assert_eq!(get("prompt_tokens"), 20 + media_tokens, "request {id}");
        assert_eq!(get("completion_tokens"), 4);
        prompt_sum += get("prompt_tokens");
        *seen.entry(images).or_insert(0) += 1;
    }
    // Every request once; 2 frames plus 0, 1 or 2 images each, all three seen.
    assert_eq!(seen.values().sum::<u32>(), 20, "{seen:?}");
    assert!(
        seen.keys().all(|k| (2..=4).contains(k)) && seen.len() == 3,
        "{seen:?}"
    );
    // The report's prompt lengths are the server's usage: the media's tokens included.
    let mean = num(&r, "metrics.requests.input_length.mean");
    assert!(
        (mean - prompt_sum as f64 / 20.0).abs() < 0.05,
        "{mean} vs {prompt_sum}/20"
    );
    Ok(())
}
