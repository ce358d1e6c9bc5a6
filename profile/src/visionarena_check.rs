//! The checks of `data.visionarena` (its section may be absent: inference-perf's defaults) and
//! what the shard spec carries of it; chat API only.

use crate::error::ProfileError;
use crate::model::{DataType, Profile};
use crate::multimodal::InsertionPoint;
use crate::visionarena::VisionArenaConfig;
use fleetbench_model::data::{Insertion, MAX_CARRIED_ENTRIES};
use fleetbench_model::settings::ApiType;
use std::path::Path;

/// Where the images go, as the shard spec carries it.
pub(crate) fn insertion(c: &VisionArenaConfig<crate::model::Distribution>) -> Insertion {
    crate::multimodal::insertion(
        c.insertion_point.as_ref(),
        &crate::multimodal_check::count_spec,
    )
}

/// The checks of `data.visionarena` and of `data.type: visionarena` (the section may be absent:
/// inference-perf's defaults, as its loader builds them).
pub(crate) fn check(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    const KEY: &str = "data.visionarena";
    let invalid = |key: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: format!("{KEY}{key}"),
        message,
    };
    let d = &p.data;
    if d.kind != DataType::Visionarena {
        return match d.visionarena {
            Some(_) => Err(invalid("", "is only read by data type visionarena".into())),
            None => Ok(()),
        };
    }
    if p.api.kind != ApiType::Chat {
        return Err(ProfileError::Invalid {
            file: file.to_path_buf(),
            key: "api.type".into(),
            message: "data type visionarena sends images with a chat prompt: api.type must be chat"
                .into(),
        });
    }
    let c = d.visionarena.clone().unwrap_or_default();
    if c.num_rows < 1 || c.num_rows > MAX_CARRIED_ENTRIES as i64 {
        return Err(invalid(
            ".num_rows",
            format!(
                "{}: from 1 to {MAX_CARRIED_ENTRIES} rows (the pool every shard spec carries)",
                c.num_rows
            ),
        ));
    }
    if !(1..=i64::from(u8::MAX)).contains(&c.max_images_per_request) {
        return Err(invalid(
            ".max_images_per_request",
            format!("{}: from 1 to 255 images", c.max_images_per_request),
        ));
    }
    if c.hf_dataset_name.split('/').count() > 2 || c.hf_dataset_name.trim().is_empty() {
        return Err(invalid(
            ".hf_dataset_name",
            format!("{:?}: a Hub dataset id, ORG/NAME", c.hf_dataset_name),
        ));
    }
    if c.hf_data_files.is_some() && c.hf_split != "train" {
        return Err(invalid(
            ".hf_split",
            format!(
                "{:?}: with hf_data_files the files make the split train (as datasets' load_dataset names a data_files string)",
                c.hf_split
            ),
        ));
    }
    match &c.insertion_point {
        Some(InsertionPoint::At(x)) if !(0.0..=1.0).contains(x) => Err(invalid(
            ".insertion_point",
            format!("must be a fraction of the prompt from 0.0 (before) to 1.0 (after), got {x}"),
        )),
        Some(InsertionPoint::Drawn(dist)) => {
            crate::distribution::check_distribution(&format!("{KEY}.insertion_point"), dist, file)
        }
        _ => Ok(()),
    }
}
