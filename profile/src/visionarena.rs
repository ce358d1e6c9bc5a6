//! `data.visionarena`, inference-perf's VisionArena-Chat loader (`VisionArenaConfig` of its
//! `config/datagen/visionarena.py`) under its key names and defaults: the dataset's real images
//! with the first user turn of each row (`data/visionarena.rs` reads them). Generic over the
//! insertion point's distribution `D` (the profile's `Distribution`), so that the profile model
//! can hold it; the checks are in `visionarena_check.rs`.

use crate::multimodal::InsertionPoint;
use serde::{Deserialize, Serialize};

/// inference-perf's default dataset.
pub(crate) const DEFAULT_DATASET: &str = "lmarena-ai/VisionArena-Chat";

/// `data.visionarena`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VisionArenaConfig<D> {
    /// The Hub dataset (`lmarena-ai/VisionArena-Chat`).
    #[serde(default = "default_dataset")]
    pub hf_dataset_name: String,
    /// The split read (`train`).
    #[serde(default = "default_split")]
    pub hf_split: String,
    /// A `data_files` glob: the files of the dataset's repository that make the `train` split.
    #[serde(default)]
    pub hf_data_files: Option<String>,
    /// Usable rows read into the pool (1000), cycled through by the requests.
    #[serde(default = "default_rows")]
    pub num_rows: i64,
    /// The most images of a row a request sends (1).
    #[serde(default = "one")]
    pub max_images_per_request: i64,
    /// Where each image goes in the prompt: a fraction of its characters (0.0, the start), a
    /// distribution, or `null` (uniform).
    #[serde(default = "at_start")]
    pub insertion_point: Option<InsertionPoint<D>>,
}

fn default_dataset() -> String {
    DEFAULT_DATASET.into()
}
fn default_split() -> String {
    "train".into()
}
fn default_rows() -> i64 {
    1000
}
fn one() -> i64 {
    1
}
fn at_start<D>() -> Option<InsertionPoint<D>> {
    Some(InsertionPoint::At(0.0))
}

impl<D> Default for VisionArenaConfig<D> {
    fn default() -> Self {
        VisionArenaConfig {
            hf_dataset_name: default_dataset(),
            hf_split: default_split(),
            hf_data_files: None,
            num_rows: default_rows(),
            max_images_per_request: one(),
            insertion_point: at_start(),
        }
    }
}
