//! inference-perf's synthetic multimodal data against the sim: images (JPEG), a video sent as
//! PNG frames and WAV audio clips woven into chat requests, and videos sent as MP4 files
//! (`representation: mp4`), each request's media parts and prompt tokens checked against the
//! sim's ground truth, and what the plan says request j carries (`plan.json`'s shard specs,
//! drawn again here); and `data.type: visionarena`, a dataset's real images read by the
//! coordinator from a Hugging Face cache and sent to every agent before the run.

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
        MediaKind::Stored { resolution: r, .. } => (1, 0, image(r.width, r.height)),
    }
}

/// A multimodal run of 20 chat requests (20 text tokens in, 4 out) with `multimodal` (YAML lines
/// under `data.multimodal`), checked for 20 requests without failure; with what the plan says
/// and what the sim saw, request by request.
struct MediaRun {
    run: std::path::PathBuf,
    report: serde_json::Value,
    spec: ShardSpec,
    /// The sim's ground-truth records of the measured requests, with each one's index j.
    seen: Vec<(u64, serde_json::Value)>,
}

fn run_media(name: &str, multimodal: &str) -> anyhow::Result<MediaRun> {
    let dir = scratch(name);
    let (_sim, sim, truth) = sim_with_truth(&dir)?;
    let profile = write_chat_profile(
        &dir,
        &sim,
        &format!(
            "data:\n\
             \x20 type: synthetic\n\
             \x20 input_distribution: {{type: fixed, mean: 20}}\n\
             \x20 output_distribution: {{type: fixed, mean: 4}}\n\
             \x20 multimodal:\n{multimodal}\
             load: {{type: constant, stages: [{{rate: 10, duration: 2}}], base_seed: 11}}\n"
        ),
    );
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(90))?;
    let report = stage_report(&run, 0)?;
    check_benchmark_run(&report);
    assert_eq!(num(&report, "metrics.requests.total"), 20.0);
    assert_eq!(num(&report, "metrics.requests.failures"), 0.0);
    let plan: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("plan.json"))?)?;
    let spec: ShardSpec = serde_json::from_value(plan["stages"][0]["shards"][0].clone())?;
    let mut seen = Vec::new();
    for line in std::fs::read_to_string(&truth)?.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let rec: serde_json::Value = serde_json::from_str(line)?;
        let id = rec["request_id"].as_str().unwrap_or_default();
        if id.starts_with("preflight-") {
            continue;
        }
        let j: u64 = id.rsplit('-').next().unwrap_or_default().parse()?;
        seen.push((j, rec));
    }
    Ok(MediaRun {
        run,
        report,
        spec,
        seen,
    })
}

#[test]
fn image_video_and_audio_parts_reach_the_sim_and_its_usage() -> anyhow::Result<()> {
    let MediaRun {
        run,
        report: r,
        spec,
        seen: records,
    } = run_media(
        "multimodal_mix",
        "\x20   image:\n\
         \x20     count: {type: uniform, min: 0, max: 2}\n\
         \x20     resolutions: [{resolution: {width: 64, height: 48}, weight: 3}, {resolution: {height: 60, width: 100}}]\n\
         \x20     representation: jpeg\n\
         \x20   video: {count: {type: fixed, mean: 1}, insertion_point: 0.5, representation: png_frames, profiles: {resolution: {width: 32, height: 32}, frames: 2}}\n\
         \x20   audio:\n\
         \x20     count: {type: fixed, mean: 1}\n\
         \x20     insertion_point: 1.0\n\
         \x20     durations: [{duration: 0.5}, {duration: 1.0, weight: 2}]\n",
    )?;
    // What the plan says request j sends: (image parts, audio parts, media tokens).
    let want = |j: u64| {
        let c = spec.data.request(spec.seed, j);
        assert_eq!(c.input_tokens, 20);
        c.media
            .iter()
            .map(|m| tokens(&m.kind))
            .fold((0, 0, 0), |a, t| (a.0 + t.0, a.1 + t.1, a.2 + t.2))
    };
    let mut seen = BTreeMap::new();
    let mut prompt_sum = 0u64;
    for (j, rec) in &records {
        let id = &rec["request_id"];
        let get = |k: &str| rec[k].as_u64().unwrap_or(0);
        let (images, audios, media_tokens) = want(*j);
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

    // The payload statistics of llm-d's report 0.2.1 are what the plan drew: per request and
    // per media instance, over the 20 ok requests.
    let v = check_stage_formats(&run, 0)?.expect("the run wrote report v0.2.1");
    let planned = Planned::of(&spec, 20);
    let agg = "results.request_performance.aggregate";
    let mm = format!("{agg}.requests.multimodal");
    let close = |path: &str, want: f64, tol: f64| {
        let got = num(&v, path);
        assert!((got - want).abs() <= tol, "{path}: {got}, planned {want}");
    };
    close(
        &format!("{mm}.image.count.mean"),
        planned.images as f64 / 20.0,
        1e-9,
    );
    close(
        &format!("{mm}.image.pixels.mean"),
        planned.image_pixels / planned.images as f64,
        planned.image_pixels / planned.images as f64 * 1e-3,
    );
    close(
        &format!("{mm}.image.aspect_ratio.max"),
        planned.aspect.1,
        0.002,
    );
    close(
        &format!("{mm}.image.aspect_ratio.min"),
        planned.aspect.0,
        0.002,
    );
    close(&format!("{mm}.video.count.mean"), 1.0, 1e-9);
    close(&format!("{mm}.video.frames.mean"), 2.0, 1e-9);
    close(&format!("{mm}.video.pixels.mean"), 32.0 * 32.0 * 2.0, 2.0);
    close(&format!("{mm}.audio.count.mean"), 1.0, 1e-9);
    close(
        &format!("{mm}.audio.duration.mean"),
        planned.audio_s / 20.0,
        0.002,
    );
    for (path, units) in [
        (format!("{mm}.image.filesize"), "bytes"),
        (format!("{mm}.image.pixels"), "pixels"),
        (format!("{mm}.image.aspect_ratio"), "ratio"),
        (format!("{mm}.audio.duration"), "s"),
        (format!("{agg}.requests.request_size"), "bytes"),
        (format!("{agg}.throughput.image_rate"), "images/s"),
    ] {
        assert_eq!(at(&v, &format!("{path}.units")), units, "{path}");
    }
    // A JPEG of a few thousand pixels is at least its headers; a 2-frame PNG video is two files.
    assert!(num(&v, &format!("{mm}.image.filesize.min")) > 100.0);
    assert!(num(&v, &format!("{mm}.video.filesize.min")) > 2.0 * 60.0);
    // A body carries its media base64-encoded: 4/3 of the files' bytes at least.
    let files = num(&v, &format!("{mm}.image.filesize.mean")) * planned.images as f64 / 20.0
        + num(&v, &format!("{mm}.video.filesize.mean"))
        + num(&v, &format!("{mm}.audio.filesize.mean"));
    assert!(num(&v, &format!("{agg}.requests.request_size.mean")) > files * 4.0 / 3.0);
    // Rates over the measured window, from the same counts as the 0.1 report's request rate.
    let per_request = num(&r, "metrics.throughput.requests_per_sec") / 20.0;
    close(
        &format!("{agg}.throughput.image_rate.mean"),
        planned.images as f64 * per_request,
        0.01,
    );
    close(
        &format!("{agg}.throughput.audio_rate.mean"),
        20.0 * per_request,
        0.01,
    );
    Ok(())
}

#[test]
fn mp4_videos_reach_the_sim_as_one_part_each_with_their_frames_tokens() -> anyhow::Result<()> {
    let MediaRun {
        run,
        spec,
        seen: records,
        ..
    } = run_media(
        "multimodal_mp4",
        "\x20   video:\n\
         \x20     count: {type: uniform, min: 0, max: 2}\n\
         \x20     insertion_point: 0.5\n\
         \x20     profiles: [{profile: {resolution: {width: 64, height: 48}, frames: 3}}, {profile: {resolution: {width: 100, height: 60}, frames: 2}}]\n",
    )?;
    // Request j's videos and their tokens: each frame charged as an image of its size.
    let want = |j: u64| {
        let media = spec.data.request(spec.seed, j).media;
        let tokens: u64 = media.iter().map(|m| tokens(&m.kind).2).sum();
        (media.len() as u64, tokens)
    };
    let mut seen = BTreeMap::new();
    for (j, rec) in &records {
        let id = &rec["request_id"];
        let get = |k: &str| rec[k].as_u64().unwrap_or(0);
        let (videos, media_tokens) = want(*j);
        assert_eq!(
            (get("videos"), get("images"), get("media_tokens")),
            (videos, 0, media_tokens),
            "request {id}"
        );
        assert_eq!(get("prompt_tokens"), 20 + media_tokens, "request {id}");
        *seen.entry(videos).or_insert(0) += 1;
    }
    assert_eq!(seen.values().sum::<u32>(), 20, "{seen:?}");
    assert_eq!(seen.len(), 3, "0, 1 and 2 videos all drawn: {seen:?}");
    // The payload statistics count each MP4 file once, with its frames.
    let v = check_stage_formats(&run, 0)?.expect("the run wrote report v0.2.1");
    let mm = "results.request_performance.aggregate.requests.multimodal";
    let frames = num(&v, &format!("{mm}.video.frames.mean"));
    assert!((2.0..=3.0).contains(&frames), "{frames}");
    assert!(num(&v, &format!("{mm}.video.filesize.min")) > 300.0);
    Ok(())
}

/// What the plan's first 20 requests carry, summed.
struct Planned {
    images: u64,
    image_pixels: f64,
    /// The smallest and largest width / height among the planned images.
    aspect: (f64, f64),
    audio_s: f64,
}

impl Planned {
    fn of(spec: &ShardSpec, n: u64) -> Planned {
        let mut p = Planned {
            images: 0,
            image_pixels: 0.0,
            aspect: (f64::INFINITY, 0.0),
            audio_s: 0.0,
        };
        for j in 0..n {
            for m in spec.data.request(spec.seed, j).media {
                match m.kind {
                    MediaKind::Image { resolution: r, .. }
                    | MediaKind::Stored { resolution: r, .. } => {
                        p.images += 1;
                        p.image_pixels += f64::from(r.width) * f64::from(r.height);
                        let aspect = f64::from(r.width) / f64::from(r.height);
                        p.aspect = (p.aspect.0.min(aspect), p.aspect.1.max(aspect));
                    }
                    MediaKind::Audio { millis } => p.audio_s += f64::from(millis) / 1000.0,
                    MediaKind::Video { .. } => {}
                }
            }
        }
        p
    }
}

/// The fixtures' offline Hugging Face cache, where inference-perf's default VisionArena dataset
/// has the rows of `scripts/make-visionarena-fixture.py`.
fn fixture_cache() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/inference-perf/hf-cache")
        .display()
        .to_string()
}

#[test]
fn visionarena_rows_reach_the_sim_with_their_images_through_every_agent() -> anyhow::Result<()> {
    let dir = scratch("visionarena");
    let (_sim, sim, truth) = sim_with_truth(&dir)?;
    let cache = fixture_cache();
    // Three usable rows (the fixture's rows 0, 1 and 4; its unusable rows are skipped): one PNG,
    // one JPEG, a WebP and a PNG (two images per request at most), each placed at half the
    // prompt's characters.
    let profile = write_chat_profile(
        &dir,
        &sim,
        "data:\n\
         \x20 type: visionarena\n\
         \x20 visionarena: {num_rows: 3, max_images_per_request: 2, insertion_point: 0.5}\n\
         load: {type: constant, stages: [{rate: 10, duration: 2}], base_seed: 5}\n",
    );
    let env = [("HF_HUB_CACHE", cache.as_str()), ("HF_HUB_OFFLINE", "1")];
    let (mut coord, addr) = start_coordinator_run_env(&dir, &profile, 2, &[], &env)?;
    let mut a = start_agent(&dir, &addr, "agent-a", "client", &[])?;
    let mut b = start_agent(&dir, &addr, "agent-b", "client", &[])?;
    anyhow::ensure!(
        coord.wait(Duration::from_secs(90))?.success(),
        "coordinator failed: see {}",
        dir.join("coordinator.log").display()
    );
    for agent in [&mut a, &mut b] {
        agent.wait(Duration::from_secs(10))?;
    }
    let run = run_dir(&dir)?;
    let report = stage_report(&run, 0)?;
    check_benchmark_run(&report);
    assert_eq!(num(&report, "metrics.requests.total"), 20.0);
    assert_eq!(num(&report, "metrics.requests.failures"), 0.0);
    // The plan names the four images by digest; no image bytes travel in it.
    let plan: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("plan.json"))?)?;
    let spec: ShardSpec = serde_json::from_value(plan["stages"][0]["shards"][1].clone())?;
    let stored = spec
        .data
        .stored_media
        .as_ref()
        .expect("stored media in the spec");
    let mimes: Vec<&str> = stored.images.iter().map(|i| i.mime.as_str()).collect();
    assert_eq!(
        mimes,
        ["image/png", "image/jpeg", "image/webp", "image/png"]
    );
    assert!(std::fs::metadata(run.join("plan.json"))?.len() < 64 << 10);
    // Request j sends row j mod 3: its first user turn and its images, which the sim decoded.
    let prompts = ["describe the picture", "what is this", "webp then png"];
    let mut seen = 0;
    for line in std::fs::read_to_string(&truth)?.lines() {
        let rec: serde_json::Value = serde_json::from_str(line)?;
        let id = rec["request_id"].as_str().unwrap_or_default();
        let j: u64 = match id.rsplit('-').next().map(str::parse) {
            Some(Ok(j)) if !id.starts_with("preflight-") => j,
            _ => continue,
        };
        let row = (j % 3) as usize;
        let c = spec.data.request(spec.seed, j);
        assert_eq!(c.prompt, prompts[row], "request {j}");
        let want_images = [1, 1, 2][row];
        assert_eq!(rec["images"].as_u64(), Some(want_images), "{rec}");
        // Every fixture image is under 28 × 28 pixels: one patch each.
        assert_eq!(rec["media_tokens"].as_u64(), Some(want_images), "{rec}");
        seen += 1;
    }
    assert_eq!(seen, 20);
    // Each agent received the images before the run.
    let log = std::fs::read_to_string(dir.join("coordinator.log"))?;
    assert!(log.contains("sending 4 dataset images"), "{log}");
    Ok(())
}

#[test]
fn visionarena_without_the_dataset_offline_names_it_and_the_cache() -> anyhow::Result<()> {
    let dir = scratch("visionarena_offline");
    let profile = dir.join("profile.yaml");
    std::fs::write(
        &profile,
        "server: {type: vllm, model_name: m, base_url: 'http://127.0.0.1:9'}\n\
         api: {type: chat}\n\
         data: {type: visionarena}\n\
         load: {type: constant, stages: [{rate: 1, duration: 1}]}\n",
    )?;
    let home = dir.join("empty-hf");
    let out = std::process::Command::new(bin("coordinator"))
        .args(["validate", profile.to_str().unwrap_or_default()])
        .env("HF_HOME", &home)
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("HF_HUB_CACHE")
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("lmarena-ai/VisionArena-Chat")
            && err.contains(&home.display().to_string())
            && err.contains("HF_HUB_OFFLINE"),
        "{err}"
    );
    Ok(())
}
