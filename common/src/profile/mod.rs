//! Workload profiles: an inference-perf configuration file plus fleetbench's `fleet` section
//! (`spec/profile.md`). [`load_profile`] reads, fills `REPLACE_ENV_*` placeholders, parses
//! strictly and validates; everything downstream may assume a valid [`Profile`].

mod error;
mod model;
mod validate;

pub use error::ProfileError;
pub use model::*;

use std::path::Path;

/// A parsed and validated profile with the name it goes by.
#[derive(Debug, Clone)]
pub struct LoadedProfile {
    pub name: String,
    pub profile: Profile,
}

/// Reads, parses and validates a profile file.
pub fn load_profile(path: &Path) -> Result<LoadedProfile, ProfileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "profile".to_string());
    parse_profile(&text, path, &stem)
}

/// Parses and validates profile text; `origin` names it in errors, `default_name` is used when
/// the profile has no `name`.
pub fn parse_profile(
    text: &str,
    origin: &Path,
    default_name: &str,
) -> Result<LoadedProfile, ProfileError> {
    let text = replace_env(text, origin)?;
    let profile: Profile = serde_norway::from_str(&text).map_err(|e| ProfileError::Parse {
        file: origin.to_path_buf(),
        message: describe_parse_error(&e),
    })?;
    validate::validate(&profile, origin)?;
    let name = profile
        .name
        .clone()
        .unwrap_or_else(|| default_name.to_string());
    Ok(LoadedProfile { name, profile })
}

/// serde's message plus the parser's position, in the `line L column C` form editors jump to.
fn describe_parse_error(e: &serde_norway::Error) -> String {
    let text = e.to_string();
    match e.location() {
        Some(loc) if !text.contains("line ") => {
            format!("line {} column {}: {text}", loc.line(), loc.column())
        }
        _ => text,
    }
}

/// Replaces every `REPLACE_ENV_<NAME>` (NAME: `[A-Za-z0-9_]+`) with the variable's value.
fn replace_env(text: &str, origin: &Path) -> Result<String, ProfileError> {
    const MARK: &str = "REPLACE_ENV_";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let after = &rest[at + MARK.len()..];
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..len];
        let value = std::env::var(name).map_err(|_| ProfileError::MissingEnv {
            file: origin.to_path_buf(),
            name: name.to_string(),
        })?;
        out.push_str(&value);
        rest = &after[len..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests;
