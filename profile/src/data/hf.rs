//! What the `hf` cargo feature brings in, behind one small interface: the `tokenizers` crate
//! (a loaded `tokenizer.json`, [`Backend`]) and the `hf-hub` client (a file downloaded into the
//! Hub cache, [`download`]). Built without the feature, every entry point answers [`NO_HF`], so
//! a profile that needs them is refused with the key it names and the feature to rebuild with;
//! nothing falls back to the word tokenizer when a tokenizer was asked for.

use std::path::Path;

/// Whether this build has the `hf` feature.
pub(crate) const BUILT_IN: bool = cfg!(feature = "hf");

/// What a build without the `hf` feature answers where it is needed.
pub(crate) const NO_HF: &str =
    "this coordinator was built without the `hf` feature: rebuild with `--features hf`";

/// Where the Hub is: its cache, base URL and token (from `super::hub::HubEnv`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hub<'a> {
    /// The hub cache directory (without `hf`: never written).
    #[cfg_attr(not(feature = "hf"), allow(dead_code))]
    pub cache: &'a Path,
    /// The Hub's base URL.
    pub endpoint: &'a str,
    /// The access token, if any (without `hf`: never sent).
    #[cfg_attr(not(feature = "hf"), allow(dead_code))]
    pub token: Option<&'a str>,
}

/// A repository of the Hub: a model or a dataset.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Repo<'a> {
    /// A model id (`ORG/NAME`).
    Model(&'a str),
    /// A dataset id (`ORG/NAME`).
    Dataset(&'a str),
}

pub(crate) use imp::{download, Backend};

/// The URL of `filename` in `repo`'s main revision.
fn file_url(hub: Hub<'_>, repo: Repo<'_>, filename: &str) -> String {
    match repo {
        Repo::Model(id) => format!("{}/{id}/resolve/main/{filename}", hub.endpoint),
        Repo::Dataset(id) => format!("{}/datasets/{id}/resolve/main/{filename}", hub.endpoint),
    }
}

#[cfg(feature = "hf")]
mod imp {
    use crate::data::hf::{file_url, Hub, Repo};
    use std::path::{Path, PathBuf};

    /// A loaded `tokenizer.json`.
    pub(crate) struct Backend(tokenizers::Tokenizer);

    impl Backend {
        /// Loads `path` (a `tokenizer.json`).
        pub(crate) fn from_file(path: &Path) -> Result<Backend, String> {
            tokenizers::Tokenizer::from_file(path)
                .map(Backend)
                .map_err(|e| format!("{}: not a usable tokenizer.json: {e}", path.display()))
        }

        /// Tokens of `text` (no special tokens added); `None` when it cannot be encoded.
        pub(crate) fn count(&self, text: &str) -> Option<u32> {
            self.0.encode(text, false).ok().map(|e| e.len() as u32)
        }

        /// The vocabulary (without added tokens): token and id.
        pub(crate) fn vocab(&self) -> Vec<(String, u32)> {
            self.0.get_vocab(false).into_iter().collect()
        }
    }

    /// `filename` of `repo`'s main revision, downloaded into `hub`'s cache (or found there).
    pub(crate) fn download(
        hub: Hub<'_>,
        repo: Repo<'_>,
        filename: &str,
    ) -> Result<PathBuf, String> {
        let cache = hf_hub::Cache::new(hub.cache.to_path_buf());
        let api = hf_hub::api::sync::ApiBuilder::from_cache(cache)
            .with_endpoint(hub.endpoint.to_string())
            .with_token(hub.token.map(str::to_string))
            .with_progress(false)
            .build()
            .map_err(|e| format!("cannot start the Hub client: {e}"))?;
        let handle = match repo {
            Repo::Model(id) => api.model(id.to_string()),
            Repo::Dataset(id) => api.dataset(id.to_string()),
        };
        handle.get(filename).map_err(|e| {
            let url = file_url(hub, repo, filename);
            format!("the download of {url} failed: {e}")
        })
    }
}

#[cfg(not(feature = "hf"))]
mod imp {
    use crate::data::hf::{file_url, Hub, Repo, NO_HF};
    use std::path::{Path, PathBuf};

    /// No tokenizer can be loaded in this build: the type has no values.
    pub(crate) enum Backend {}

    impl Backend {
        /// Always [`NO_HF`].
        pub(crate) fn from_file(_path: &Path) -> Result<Backend, String> {
            Err(NO_HF.to_string())
        }

        pub(crate) fn count(&self, _text: &str) -> Option<u32> {
            match *self {}
        }

        pub(crate) fn vocab(&self) -> Vec<(String, u32)> {
            match *self {}
        }
    }

    /// Always an error naming the file and [`NO_HF`]: nothing is downloaded.
    pub(crate) fn download(
        hub: Hub<'_>,
        repo: Repo<'_>,
        filename: &str,
    ) -> Result<PathBuf, String> {
        let url = file_url(hub, repo, filename);
        Err(format!("{url} cannot be downloaded: {NO_HF}"))
    }
}
