use std::path::PathBuf;

/// A profile that cannot be used, with where and why. `Display` names the file, the position
/// when known, the key and what is allowed.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file cannot be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The profile (or matrix) file.
        file: PathBuf,
        /// The read's error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a profile: YAML syntax or a key of the wrong type.
    #[error("{file}: {message}")]
    Parse {
        /// The profile (or matrix) file.
        file: PathBuf,
        /// The parser's message, with its position.
        message: String,
    },
    /// A key's value that fleetbench cannot run.
    #[error("{file}: `{key}`: {message}")]
    Invalid {
        /// The profile (or matrix) file.
        file: PathBuf,
        /// The key's path (`load.stages.0.rate`).
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// [`ProfileError::Invalid`] with the key's position in the file.
    #[error("{file}: line {line} column {column}: `{key}`: {message}")]
    InvalidAt {
        /// The profile (or matrix) file.
        file: PathBuf,
        /// The key's line, from 1.
        line: usize,
        /// The key's column, from 1.
        column: usize,
        /// The key's path.
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A `-o` override that cannot be applied.
    #[error("{file}: -o {arg}: {message}")]
    Override {
        /// The profile (or matrix) file.
        file: PathBuf,
        /// The override as given.
        arg: String,
        /// Why it cannot be applied.
        message: String,
    },
    #[error("{file}: {}`{key}` is an inference-perf setting that fleetbench does not support yet: {reason}", at_position(.line))]
    /// An inference-perf key fleetbench does not implement.
    NotSupported {
        /// The profile (or matrix) file.
        file: PathBuf,
        /// The key's path.
        key: String,
        /// Why, and what to do instead.
        reason: String,
        /// Line and column of the key, when known.
        line: Option<(usize, usize)>,
    },
    /// A `REPLACE_ENV_` placeholder whose variable is not set.
    #[error("{file}: environment variable `{name}` (named by REPLACE_ENV_{name}) is not set")]
    MissingEnv {
        /// The profile (or matrix) file.
        file: PathBuf,
        /// The variable's name.
        name: String,
    },
}

fn at_position(p: &Option<(usize, usize)>) -> String {
    p.map(|(l, c)| format!("line {l} column {c}: "))
        .unwrap_or_default()
}
