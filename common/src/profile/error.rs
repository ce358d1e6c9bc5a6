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
    /// [`ProfileError::Invalid`] with the key's position in the file.
    #[error("{file}: line {line} column {column}: `{key}`: {message}")]
    InvalidAt {
        file: PathBuf,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
    #[error("{file}: -o {arg}: {message}")]
    Override {
        file: PathBuf,
        arg: String,
        message: String,
    },
    #[error("{file}: {}`{key}` is an inference-perf setting that fleetbench does not support yet: {reason}", at_position(.line))]
    NotSupported {
        file: PathBuf,
        key: String,
        /// Why, and what to do instead.
        reason: String,
        /// Line and column of the key, when known.
        line: Option<(usize, usize)>,
    },
    #[error("{file}: environment variable `{name}` (named by REPLACE_ENV_{name}) is not set")]
    MissingEnv { file: PathBuf, name: String },
}

fn at_position(p: &Option<(usize, usize)>) -> String {
    p.map(|(l, c)| format!("line {l} column {c}: "))
        .unwrap_or_default()
}
