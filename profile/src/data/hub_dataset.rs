//! A Hugging Face dataset named in a profile (`hf_dataset_path`: an id, or `{path, split,
//! revision}` as `datasets.load_dataset` takes them), its split's data files listed through
//! the Hub's API and downloaded into the Hub cache by the coordinator (or, with
//! `HF_HUB_OFFLINE`, found there), then read row by row (`dataset_rows.rs`).

use super::data_files::{split_files, Format};
use super::dataset_card::{card_splits, SplitPatterns, MAX_CARD_BYTES};
use super::hub::HubEnv;
use serde_norway::Value;
use std::path::{Path, PathBuf};

/// The most files a dataset's listing may have.
const MAX_LISTED_FILES: usize = 100_000;

/// A dataset, its revision and split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DatasetRef {
    /// `ORG/NAME`.
    pub id: String,
    /// A branch, tag or commit (`main`).
    pub revision: String,
    /// The split (`train`).
    pub split: String,
    /// The config (`load_dataset`'s `name`); none: the card's default.
    pub config: Option<String>,
    /// `load_dataset`'s `data_files` as one glob: the matching files are the `train` split,
    /// whatever the card says.
    pub data_files: Option<String>,
}

/// Why `hf_dataset_path` cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RefError {
    /// inference-perf refuses it too.
    #[error("{0}")]
    Invalid(String),
    /// inference-perf takes it, fleetbench does not.
    #[error("{0}")]
    NotSupported(String),
}

impl DatasetRef {
    /// `hf_dataset_path` as inference-perf reads it: a string, or a mapping with `path` plus
    /// `split` (default `train`), `revision` (default `main`) and `name` (the config, default the
    /// card's); its `filter` is ignored, as
    /// inference-perf ignores it (the dataset's read warns). Other `load_dataset` keywords are
    /// refused.
    pub(crate) fn parse(v: &Value) -> Result<DatasetRef, RefError> {
        let invalid = |m: &str| RefError::Invalid(m.to_string());
        let text = |v: &Value| match v {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        let mut r = DatasetRef {
            id: String::new(),
            revision: "main".into(),
            split: "train".into(),
            config: None,
            data_files: None,
        };
        match v {
            Value::String(s) => r.id = s.clone(),
            Value::Mapping(m) => {
                for (k, v) in m {
                    let key = k.as_str().unwrap_or_default();
                    match key {
                        "path" => r.id = text(v).unwrap_or_default(),
                        "split" => {
                            r.split = text(v).ok_or_else(|| invalid("split: a split name (train)"))?;
                        }
                        "revision" => {
                            r.revision =
                                text(v).ok_or_else(|| invalid("revision: a branch, tag or commit"))?;
                        }
                        "name" => {
                            r.config = Some(
                                text(v).ok_or_else(|| invalid("name: a config name (3.0.0)"))?,
                            );
                        }
                        // Ignored, as inference-perf ignores it (the read warns, once).
                        "filter" => {}
                        other => {
                            return Err(RefError::NotSupported(format!(
                                "the load_dataset keyword {other:?} is not read: fleetbench reads path, name, split and revision (and ignores filter, as inference-perf does)"
                            )))
                        }
                    }
                }
                if r.id.is_empty() {
                    return Err(invalid(
                        "'path' is required in hf_dataset_path dict configuration",
                    ));
                }
            }
            _ => return Err(invalid("hf_dataset_path must be a string or dict")),
        }
        if !super::hub::is_model_id(&r.id) || !r.id.contains('/') {
            return Err(RefError::NotSupported(format!(
                "{:?} is not a Hub dataset id (ORG/NAME): `datasets` would read it as a local directory; name it in trace_directory",
                r.id
            )));
        }
        if r.split.contains(['[', ']', '+']) {
            return Err(RefError::NotSupported(format!(
                "split {:?}: slices and sums of splits are not read; name one split",
                r.split
            )));
        }
        Ok(r)
    }
}

/// The splits the dataset card at `path` names for `config`, if any.
fn card_of(path: &Path, config: Option<&str>) -> Result<Option<SplitPatterns>, String> {
    let text = std::fs::read(path).map_err(|e| format!("README.md: cannot read: {e}"))?;
    if text.len() > MAX_CARD_BYTES {
        return Ok(None);
    }
    card_splits(&String::from_utf8_lossy(&text), config)
}

/// The card's splits, or none where the dataset has no card: then a config name, which only a
/// card could define, is an error.
fn card_or_none(
    readme: Option<&Path>,
    config: Option<&str>,
) -> Result<Option<SplitPatterns>, String> {
    match (readme, config) {
        (Some(p), _) => card_of(p, config),
        (None, None) => Ok(None),
        (None, Some(c)) => Err(format!(
            "config {c:?}: the dataset has no README.md to define it"
        )),
    }
}

/// The files of each split of `r`: its `data_files` glob as the `train` split, else what the
/// card at `readme` names (none: the layout's defaults).
fn split_patterns(r: &DatasetRef, readme: Option<&Path>) -> Result<Option<SplitPatterns>, String> {
    match &r.data_files {
        Some(glob) => Ok(Some(vec![("train".to_string(), vec![glob.clone()])])),
        None => card_or_none(readme, r.config.as_deref()),
    }
}

/// The cache directory of a dataset repository.
fn repo_dir(hub: &HubEnv, id: &str) -> PathBuf {
    hub.cache
        .join(format!("datasets--{}", id.replace('/', "--")))
}

/// The files of the snapshot `dir`, as repository paths (`/`-separated), at most
/// [`MAX_LISTED_FILES`].
fn snapshot_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() && out.len() < MAX_LISTED_FILES {
                if let Ok(rel) = p.strip_prefix(dir) {
                    let parts: Vec<String> = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect();
                    out.push(parts.join("/"));
                }
            }
        }
    }
    out
}

/// Where a split's files are read from.
enum Source<'a> {
    /// A snapshot directory of the cache.
    Snapshot(PathBuf),
    /// The Hub, each file downloaded into the cache when first asked for.
    Hub(&'a HubEnv, DatasetRef),
}

/// A split's data files in `datasets`' order, each fetched only when asked for (so that a
/// reader that stops early downloads no more than it reads).
pub(crate) struct SplitFiles<'a> {
    /// Repository paths.
    pub names: Vec<String>,
    pub format: Format,
    /// The dataset, revision, config and split, for errors.
    pub what: String,
    from: Source<'a>,
}

impl SplitFiles<'_> {
    /// The local path of `name` (one of [`Self::names`]), downloaded into the cache unless it
    /// is there.
    pub(crate) fn path(&self, name: &str) -> Result<PathBuf, String> {
        match &self.from {
            Source::Snapshot(dir) => Ok(dir.join(name)),
            Source::Hub(hub, r) => super::hf::dataset_file_at(hub.hf(), &r.id, &r.revision, name)
                .map_err(|e| format!("{}: {e}", self.what)),
        }
    }
}

impl HubEnv {
    /// The data files of `r`'s split, local paths in the Hub cache (downloaded there unless
    /// `HF_HUB_OFFLINE` or a build without the `hf` feature), in `datasets`' order, with their
    /// format. The error names the dataset, the cache paths tried and the variables that decide.
    pub(crate) fn dataset_split(&self, r: &DatasetRef) -> Result<(Vec<PathBuf>, Format), String> {
        let split = self.split_files(r)?;
        let paths = split
            .names
            .iter()
            .map(|n| split.path(n))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((paths, split.format))
    }

    /// `r`'s split as [`SplitFiles`]: listed on the Hub (its card downloaded) or found in the
    /// cache, none of its data files fetched yet.
    pub(crate) fn split_files(&self, r: &DatasetRef) -> Result<SplitFiles<'_>, String> {
        let config = r
            .config
            .as_deref()
            .map(|c| format!(", config {c}"))
            .unwrap_or_default();
        let what = format!(
            "dataset {} (revision {}{config}, split {})",
            r.id, r.revision, r.split
        );
        let at = |e: String| format!("{what}: {e}");
        if self.offline || !super::hf::BUILT_IN {
            let (snapshot, names, format) = self.cached_split(r).map_err(at)?;
            return Ok(SplitFiles {
                names,
                format,
                what,
                from: Source::Snapshot(snapshot),
            });
        }
        let hub = self.hf();
        let (_, listed) = super::hf::list_dataset(hub, &r.id, &r.revision).map_err(|e| {
            at(format!("{e}; set HF_TOKEN for a gated or private dataset, HF_ENDPOINT for a mirror, or HF_HUB_OFFLINE=1 with HF_HOME or HF_HUB_CACHE naming a cache that has it"))
        })?;
        if listed.len() > MAX_LISTED_FILES {
            return Err(at(format!("more than {MAX_LISTED_FILES} files")));
        }
        let readme = if listed.iter().any(|f| f == "README.md") && r.data_files.is_none() {
            Some(super::hf::dataset_file_at(hub, &r.id, &r.revision, "README.md").map_err(at)?)
        } else {
            None
        };
        let card = split_patterns(r, readme.as_deref()).map_err(at)?;
        let (names, format) = split_files(&listed, &r.split, card).map_err(at)?;
        Ok(SplitFiles {
            names,
            format,
            what,
            from: Source::Hub(self, r.clone()),
        })
    }

    /// The split's snapshot directory and files from the cache alone: the snapshot
    /// `refs/{revision}` names (or the snapshot of a commit given as the revision).
    fn cached_split(&self, r: &DatasetRef) -> Result<(PathBuf, Vec<String>, Format), String> {
        let repo = repo_dir(self, &r.id);
        let refs = repo.join("refs").join(&r.revision);
        let commit = std::fs::read_to_string(&refs)
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|c| !c.is_empty() && !c.contains(['/', '\\', '.']))
            .or_else(|| {
                repo.join("snapshots")
                    .join(&r.revision)
                    .is_dir()
                    .then(|| r.revision.clone())
            });
        let no_download = if self.offline {
            "HF_HUB_OFFLINE is set, so nothing is downloaded"
        } else {
            super::hf::NO_HF
        };
        let missing = |why: &str| {
            format!(
                "{why} in the Hugging Face cache (looked at {} and {}) and {no_download}; set HF_HOME or HF_HUB_CACHE to a cache that has it, or unset HF_HUB_OFFLINE to download it (HF_ENDPOINT, HF_TOKEN)",
                refs.display(),
                repo.join("snapshots").display()
            )
        };
        let Some(commit) = commit else {
            return Err(missing("not"));
        };
        let snapshot = repo.join("snapshots").join(commit);
        let files = snapshot_files(&snapshot);
        if files.is_empty() {
            return Err(missing("no file of it is"));
        }
        let readme = snapshot.join("README.md");
        let card = split_patterns(r, readme.is_file().then_some(readme.as_path()))?;
        let (names, format) = split_files(&files, &r.split, card)?;
        Ok((snapshot, names, format))
    }
}
