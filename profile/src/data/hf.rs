//! What the `hf` cargo feature brings in, behind one small interface: the `tokenizers` crate
//! (a loaded `tokenizer.json`, [`Backend`]), the `hf-hub` client (a file downloaded into the
//! Hub cache, [`download`]; a dataset's files listed, [`list_dataset`]) and the `parquet` crate
//! (a dataset's Parquet rows, [`parquet_rows`]) and `minijinja` (a chat template rendered as
//! transformers renders it, [`render_template`]). Built without the feature, every entry point
//! answers [`NO_HF`], so a profile that needs them is refused with the key it names and the
//! feature to rebuild with; nothing falls back to the word tokenizer when a tokenizer was asked
//! for.

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

pub(crate) use imp::{
    dataset_file_at, download, list_dataset, parquet_rows, render_template, Backend,
};

/// What each row of a data file is handed to: `Err` stops the reading with the error,
/// `Ok(ControlFlow::Break(()))` stops it when the reader has read enough.
pub(crate) type RowSink<'a> =
    dyn FnMut(serde_json::Value) -> Result<std::ops::ControlFlow<()>, String> + 'a;

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

        /// The token ids of `text` with the special tokens the tokenizer adds (transformers'
        /// `encode(text)`).
        pub(crate) fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
            (self.0.encode(text, true))
                .map(|e| e.get_ids().to_vec())
                .map_err(|e| format!("cannot encode: {e}"))
        }

        /// The text of `ids`, special tokens kept (transformers' `decode(ids)`).
        pub(crate) fn decode(&self, ids: &[u32]) -> Result<String, String> {
            (self.0.decode(ids, false)).map_err(|e| format!("cannot decode: {e}"))
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

    fn api(hub: Hub<'_>) -> Result<hf_hub::api::sync::Api, String> {
        hf_hub::api::sync::ApiBuilder::from_cache(hf_hub::Cache::new(hub.cache.to_path_buf()))
            .with_endpoint(hub.endpoint.to_string())
            .with_token(hub.token.map(str::to_string))
            .with_progress(false)
            .build()
            .map_err(|e| format!("cannot start the Hub client: {e}"))
    }

    fn dataset_repo(id: &str, revision: &str) -> hf_hub::Repo {
        hf_hub::Repo::with_revision(
            id.to_string(),
            hf_hub::RepoType::Dataset,
            revision.to_string(),
        )
    }

    /// The commit and the files (paths in the repository) of the dataset `id` at `revision`,
    /// as the Hub's API lists them (`GET /api/datasets/{id}/revision/{revision}`).
    pub(crate) fn list_dataset(
        hub: Hub<'_>,
        id: &str,
        revision: &str,
    ) -> Result<(String, Vec<String>), String> {
        let info = api(hub)?
            .repo(dataset_repo(id, revision))
            .info()
            .map_err(|e| {
                format!(
                    "listing its files at {}/api/datasets/{id}/revision/{revision} failed: {e}",
                    hub.endpoint
                )
            })?;
        Ok((
            info.sha,
            info.siblings.into_iter().map(|s| s.rfilename).collect(),
        ))
    }

    /// `filename` of the dataset `id` at `revision`, found in the cache or downloaded into it.
    pub(crate) fn dataset_file_at(
        hub: Hub<'_>,
        id: &str,
        revision: &str,
        filename: &str,
    ) -> Result<PathBuf, String> {
        let handle = api(hub)?.repo(dataset_repo(id, revision));
        handle
            .get(filename)
            .map_err(|e| format!("the download of {} failed: {e}", handle.url(filename)))
    }

    /// Every row of the Parquet file `path`, as a JSON object (null for a missing value), in
    /// order; returns the number of rows.
    pub(crate) fn parquet_rows(
        path: &Path,
        each: &mut crate::data::hf::RowSink<'_>,
    ) -> Result<usize, String> {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let why = |e: parquet::errors::ParquetError| format!("not a readable Parquet file: {e}");
        let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let reader = SerializedFileReader::new(file).map_err(why)?;
        let mut n = 0;
        for row in reader.get_row_iter(None).map_err(why)? {
            n += 1;
            if each(row.map_err(why)?.to_json_value())?.is_break() {
                break;
            }
        }
        Ok(n)
    }

    /// Most template instructions one chat-template render may run: a template is input (from
    /// a tokenizer's files), so a loop without end stops here.
    const TEMPLATE_FUEL: u64 = 1_000_000;

    /// `template` rendered with `context`, as transformers renders a chat template: Jinja with
    /// `trim_blocks` and `lstrip_blocks`, `break`/`continue`, Python's string and dict methods,
    /// `raise_exception(message)` and `strftime_now(format)`; bounded by [`TEMPLATE_FUEL`].
    pub(crate) fn render_template(
        template: &str,
        context: &serde_json::Value,
    ) -> Result<String, String> {
        use minijinja::syntax::SyntaxConfig;
        use minijinja::value::Serde;
        use minijinja::{Environment, Error, ErrorKind, Value};
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| format!("the template syntax: {e}"))?;
        env.set_syntax(syntax);
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<Value, Error> {
                Err(Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        env.add_function("strftime_now", |format: String| -> Result<Value, Error> {
            Ok(Value::from(strftime_utc(&format)))
        });
        let tmpl = env
            .template_from_str(template)
            .map_err(|e| format!("not a Jinja template: {e:#}"))?;
        tmpl.render(Value::from(Serde(context)))
            .map_err(|e| format!("rendering failed: {e:#}"))
    }

    /// `format` (strftime's `%Y %m %d %B %b %H %M %S %%`) of the current UTC time: what chat
    /// templates ask `strftime_now` for (today's date in a system prompt).
    fn strftime_utc(format: &str) -> String {
        let t = fleetbench_model::clock::utc(fleetbench_model::clock::unix_s());
        const MONTHS: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        let name = MONTHS[(t.month.clamp(1, 12) - 1) as usize];
        let mut out = String::new();
        let mut chars = format.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('Y') => out.push_str(&format!("{:04}", t.year)),
                Some('m') => out.push_str(&format!("{:02}", t.month)),
                Some('d') => out.push_str(&format!("{:02}", t.day)),
                Some('H') => out.push_str(&format!("{:02}", t.hour)),
                Some('M') => out.push_str(&format!("{:02}", t.minute)),
                Some('S') => out.push_str(&format!("{:02}", t.second)),
                Some('B') => out.push_str(name),
                Some('b') => out.push_str(&name[..3]),
                Some('%') => out.push('%'),
                Some(o) => {
                    out.push('%');
                    out.push(o);
                }
                None => out.push('%'),
            }
        }
        out
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

        pub(crate) fn encode(&self, _text: &str) -> Result<Vec<u32>, String> {
            match *self {}
        }

        pub(crate) fn decode(&self, _ids: &[u32]) -> Result<String, String> {
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

    /// Always an error naming [`NO_HF`]: the Hub's API is not reached.
    pub(crate) fn list_dataset(
        hub: Hub<'_>,
        id: &str,
        revision: &str,
    ) -> Result<(String, Vec<String>), String> {
        Err(format!(
            "{}/api/datasets/{id}/revision/{revision} cannot be listed: {NO_HF}",
            hub.endpoint
        ))
    }

    /// Always an error naming the file and [`NO_HF`].
    pub(crate) fn dataset_file_at(
        hub: Hub<'_>,
        id: &str,
        revision: &str,
        filename: &str,
    ) -> Result<PathBuf, String> {
        Err(format!(
            "{}/datasets/{id}/resolve/{revision}/{filename} cannot be downloaded: {NO_HF}",
            hub.endpoint
        ))
    }

    /// Always an error naming [`NO_HF`]: the Parquet reader is part of the `hf` feature.
    pub(crate) fn parquet_rows(
        _path: &Path,
        _each: &mut crate::data::hf::RowSink<'_>,
    ) -> Result<usize, String> {
        Err(format!(
            "Parquet files are read with the `parquet` crate: {NO_HF}"
        ))
    }

    /// Always an error naming [`NO_HF`]: chat templates are rendered with `minijinja`.
    pub(crate) fn render_template(
        _template: &str,
        _context: &serde_json::Value,
    ) -> Result<String, String> {
        Err(format!(
            "chat templates are rendered with the `minijinja` crate: {NO_HF}"
        ))
    }
}
