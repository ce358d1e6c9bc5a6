//! The Hugging Face Hub, as the Python `huggingface_hub` package sees it: where its cache is, which
//! endpoint and token to use, whether downloads are allowed. The coordinator fetches a model's
//! `tokenizer.json` through the `hf-hub` crate into that cache, once, when it loads a profile;
//! agents never do (their shard spec carries the tokenized data). The download is in
//! [`super::hf`], behind the `hf` feature; what is already in the cache is found without it.
//!
//! The variables, read exactly as `huggingface_hub` reads them:
//! - `HF_HUB_CACHE` (legacy `HUGGINGFACE_HUB_CACHE`), else `$HF_HOME/hub`, where `HF_HOME`
//!   defaults to `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`;
//! - `HF_ENDPOINT` (default `https://huggingface.co`);
//! - `HF_TOKEN`, else the file `HF_TOKEN_PATH`, else `$HF_HOME/token`;
//! - `HF_HUB_OFFLINE` (`1`, `ON`, `YES`, `TRUE`, any case): never download.

use std::path::{Path, PathBuf};

/// The Hub endpoint when `HF_ENDPOINT` is not set.
pub(crate) const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Where and how the Hub is reached.
#[derive(Debug, Clone)]
pub(crate) struct HubEnv {
    /// The hub cache: `models--ORG--NAME/{blobs,refs,snapshots}` live here.
    pub cache: PathBuf,
    /// The Hub's base URL (`HF_ENDPOINT`).
    pub endpoint: String,
    /// The access token (`HF_TOKEN`), if any.
    pub token: Option<String>,
    /// `HF_HUB_OFFLINE`: the cache only.
    pub offline: bool,
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE")
}

impl HubEnv {
    /// The Hub as this process's environment describes it.
    pub(crate) fn from_env() -> HubEnv {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The Hub as the variables that `get` returns describe it (empty values count as unset).
    pub(crate) fn from_vars(get: impl Fn(&str) -> Option<String>) -> HubEnv {
        let var = |name: &str| get(name).filter(|v| !v.is_empty());
        let home = var("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| Path::new(&h).join(".cache")))
                .unwrap_or_else(|| PathBuf::from(".cache"))
                .join("huggingface")
        });
        let cache = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("hub"));
        let token_file = var("HF_TOKEN_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("token"));
        let token = var("HF_TOKEN").or_else(|| {
            std::fs::read_to_string(token_file)
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        });
        HubEnv {
            cache,
            endpoint: var("HF_ENDPOINT")
                .map(|e| e.trim_end_matches('/').to_string())
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
            token,
            offline: var("HF_HUB_OFFLINE").is_some_and(|v| truthy(&v)),
        }
    }

    /// The Hub as [`super::hf::download`] takes it.
    pub(super) fn hf(&self) -> super::hf::Hub<'_> {
        super::hf::Hub {
            cache: &self.cache,
            endpoint: &self.endpoint,
            token: self.token.as_deref(),
        }
    }

    /// `snapshots/` of a model in the cache.
    pub(crate) fn snapshots(&self, model_id: &str) -> PathBuf {
        self.cache
            .join(format!("models--{}", model_id.replace('/', "--")))
            .join("snapshots")
    }

    /// `filename` of `model_id`'s main revision, downloaded into the cache (or found there);
    /// without the `hf` feature, an error that names it.
    pub(crate) fn fetch(&self, model_id: &str, filename: &str) -> Result<PathBuf, String> {
        if self.offline {
            return Err("HF_HUB_OFFLINE is set, so nothing is downloaded".into());
        }
        super::hf::download(self.hf(), super::hf::Repo::Model(model_id), filename)
    }
}

/// inference-perf's default ShareGPT dataset (`data.type: shareGPT` without `data.path`).
pub(crate) const SHAREGPT_REPO: &str = "anon8231489123/ShareGPT_Vicuna_unfiltered";
/// The file of [`SHAREGPT_REPO`] that inference-perf reads.
pub(crate) const SHAREGPT_FILE: &str = "ShareGPT_V3_unfiltered_cleaned_split.json";

impl HubEnv {
    /// `filename` of the dataset `repo_id` (main revision): found in the cache
    /// (`datasets--ORG--NAME/snapshots/*/`), else downloaded into it. The error names the
    /// dataset, the cache directory tried and the variables that decide.
    pub(crate) fn dataset_file(&self, repo_id: &str, filename: &str) -> Result<PathBuf, String> {
        let snapshots = self
            .cache
            .join(format!("datasets--{}", repo_id.replace('/', "--")))
            .join("snapshots");
        let cached = std::fs::read_dir(&snapshots)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join(filename))
            .find(|p| p.is_file());
        if let Some(p) = cached {
            return Ok(p);
        }
        let why = if self.offline {
            "HF_HUB_OFFLINE is set, so nothing is downloaded".to_string()
        } else {
            match super::hf::download(self.hf(), super::hf::Repo::Dataset(repo_id), filename) {
                Ok(p) => return Ok(p),
                Err(e) => e,
            }
        };
        Err(format!(
            "dataset {repo_id} (file {filename}) is not in the Hugging Face cache (looked in {}) and {why}; set HF_HOME or HF_HUB_CACHE to a cache that has it, or unset HF_HUB_OFFLINE to download it (HF_ENDPOINT, HF_TOKEN)",
            snapshots.display()
        ))
    }
}

/// Whether `name` can be a Hub model id (`NAME` or `ORG/NAME` of letters, digits, `-`, `_`, `.`),
/// as opposed to a local path.
pub(crate) fn is_model_id(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    (1..=2).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}
