use std::path::PathBuf;

/// A profile that cannot be used, with where and why. `Display` names the file, the position
/// when known, the key and what is allowed.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}: `{key}`: {message}")]
    Invalid {
        file: PathBuf,
        key: String,
        message: String,
    },
    #[error("{file}: `{key}` is an inference-perf setting that fleetbench does not support yet; remove it")]
    NotSupported { file: PathBuf, key: String },
    #[error("{file}: environment variable `{name}` (named by REPLACE_ENV_{name}) is not set")]
    MissingEnv { file: PathBuf, name: String },
}
