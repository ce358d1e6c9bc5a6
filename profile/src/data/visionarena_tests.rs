//! The VisionArena reader on a dataset in a Hugging Face cache (offline): the fixture cache's
//! `datasets--lmarena-ai--VisionArena-Chat` (written by `scripts/make-visionarena-fixture.py`) has usable rows
//! and rows inference-perf skips (no user text, no image, a GIF, bytes that are not an image).

use super::hub::HubEnv;
use super::hub_dataset::DatasetRef;
use super::visionarena::{read_visionarena, Wanted};
use fleetbench_model::data::{Insertion, Resolution};
use std::path::Path;

/// The fixtures' offline cache, where inference-perf's default dataset has the fixture rows.
fn cache() -> HubEnv {
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/inference-perf/hf-cache");
    HubEnv::from_vars(move |k| match k {
        "HF_HUB_CACHE" => Some(cache.to_string_lossy().into_owned()),
        "HF_HUB_OFFLINE" => Some("1".into()),
        _ => None,
    })
}

fn dataset(data_files: Option<&str>) -> DatasetRef {
    DatasetRef {
        id: "lmarena-ai/VisionArena-Chat".into(),
        revision: "main".into(),
        split: "train".into(),
        config: None,
        data_files: data_files.map(str::to_string),
    }
}

#[test]
fn usable_rows_give_their_first_user_turn_and_their_images_as_read() {
    let hub = cache();
    let split = hub.split_files(&dataset(None)).unwrap();
    let want = Wanted {
        rows: 100,
        images_per_row: 2,
        insertion: Insertion::At(0.0),
    };
    let (entries, pool) = read_visionarena(&split, &want, None).unwrap();
    let prompts: Vec<&str> = entries.iter().map(|e| e.prompt.as_str()).collect();
    assert_eq!(
        prompts,
        [
            "describe the picture",
            "what is this",
            "webp then png",
            "the second user turn"
        ]
    );
    let images: Vec<&[u32]> = entries.iter().map(|e| e.images.as_slice()).collect();
    assert_eq!(images, [&[0][..], &[1], &[2, 3], &[4, 5]]);
    assert!(entries.iter().all(|e| e.output_tokens == 30));
    let kinds: Vec<(&str, u32, u32)> = (pool.media.images.iter())
        .map(|i| (i.mime.as_str(), i.resolution.width, i.resolution.height))
        .collect();
    assert_eq!(
        kinds,
        [
            ("image/png", 16, 8),
            ("image/jpeg", 24, 12),
            ("image/webp", 10, 6),
            ("image/png", 4, 4),
            ("image/png", 8, 8),
            ("image/jpeg", 6, 6),
        ]
    );
    // The bytes are the dataset's, named by their SHA-256.
    for (bytes, image) in pool.bytes.iter().zip(&pool.media.images) {
        assert_eq!(fleetbench_model::data::image_digest(bytes), image.digest);
        assert_eq!(bytes.len() as u64, image.bytes);
    }
    assert!(pool.bytes[0].starts_with(b"\x89PNG"));
}

#[test]
fn num_rows_and_max_images_bound_the_pool() {
    let hub = cache();
    let split = hub.split_files(&dataset(Some("data/*.parquet"))).unwrap();
    let want = Wanted {
        rows: 3,
        images_per_row: 1,
        insertion: Insertion::Uniform,
    };
    let (entries, pool) = read_visionarena(&split, &want, Some(&|s: &str| s.len() as u32)).unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[2].images, [2]);
    assert_eq!(entries[0].input_tokens, Some(20));
    assert_eq!(pool.media.images.len(), 3);
    assert_eq!(pool.media.insertion, Insertion::Uniform);
    assert_eq!(
        pool.media.images[2].resolution,
        Resolution {
            width: 10,
            height: 6
        }
    );
    // A glob that matches no file, and a dataset the cache does not have, are errors.
    assert!(hub.split_files(&dataset(Some("other/*.parquet"))).is_err());
    let err = (hub.split_files(&DatasetRef {
        id: "org/missing".into(),
        ..dataset(None)
    }))
    .err()
    .unwrap();
    assert!(
        err.contains("org/missing") && err.contains("HF_HUB_OFFLINE"),
        "{err}"
    );
}
