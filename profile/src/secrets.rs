//! A profile's secrets, and where `REPLACE_ENV_<NAME>` placeholders get their values.
//!
//! Secrets are `server.api_key`, the values of `api.headers` whose names look like credentials
//! (`authorization`, `*token*`, `*key*`, `*secret*`, `*password*`, `cookie`), and every value
//! that came from the environment. They travel to the agents, which need them, but every file
//! and log line the coordinator writes passes through [`Secrets::redact`], which writes each as
//! `<redacted>`.
//!
//! Environment filling happens where the profile's author reads it ([`EnvSource::Process`]:
//! `coordinator run`, or `coordinator submit` on the submitter's machine). A submitted profile
//! is filled from the values the submitter sent ([`EnvSource::Sent`]), never from the
//! coordinator's own environment.

use crate::error::ProfileError;
use crate::model::Profile;
use std::collections::BTreeMap;
use std::path::Path;

/// What secrets are replaced with.
pub const REDACTED: &str = "<redacted>";

/// Environment values shorter than this are not redacted (a port or a count would erase every
/// such digit from the reports); the README says so.
pub(crate) const MIN_ENV_SECRET_LEN: usize = 4;

const MARK: &str = "REPLACE_ENV_";

/// Where `REPLACE_ENV_<NAME>` takes its value from.
#[derive(Debug, Clone, Copy)]
pub enum EnvSource<'a> {
    /// This process's environment (the author's machine).
    Process,
    /// The values a submitter sent with its profile; a name missing here is an error.
    Sent(&'a BTreeMap<String, String>),
}

impl EnvSource<'_> {
    fn get(&self, name: &str) -> Option<String> {
        match self {
            EnvSource::Process => std::env::var(name).ok(),
            EnvSource::Sent(m) => m.get(name).cloned(),
        }
    }
}

/// The secret strings of one profile (no duplicates, longest first so that a secret that
/// contains another is redacted whole). `Debug` shows how many, never what.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(Vec<String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} values)", self.0.len())
    }
}

impl Secrets {
    /// `server.api_key` and the credential-like headers of `profile`.
    pub fn of_profile(profile: &Profile) -> Secrets {
        let mut s = Secrets::default();
        if let Some(k) = &profile.server.api_key {
            s.add(k);
        }
        for (name, value) in &profile.api.headers {
            if is_secret_header(name) {
                s.add(value);
                // The value usually travels as `Bearer SECRET`: the secret part alone too.
                if let Some((_, rest)) = value.split_once(' ') {
                    s.add(rest);
                }
            }
        }
        s
    }

    /// Adds one secret (empty strings are ignored).
    pub fn add(&mut self, value: &str) {
        let v = value.trim();
        if v.is_empty() || self.0.iter().any(|s| s == v) {
            return;
        }
        self.0.push(v.to_string());
        self.0.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    }

    /// Adds a value that came from the environment, unless it is too short to redact.
    pub fn add_env(&mut self, value: &str) {
        if value.trim().len() >= MIN_ENV_SECRET_LEN {
            self.add(value);
        }
    }

    /// Adds every secret of `other`.
    pub fn extend(&mut self, other: &Secrets) {
        for s in &other.0 {
            self.add(s);
        }
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every secret (also as escaped inside a JSON string) written `<redacted>`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.0 {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
            let json = serde_json::to_string(s).unwrap_or_default();
            let escaped = json.trim_matches('"');
            if escaped != s && out.contains(escaped) {
                out = out.replace(escaped, REDACTED);
            }
        }
        out
    }

    /// [`Secrets::redact`] over bytes that may not be UTF-8 (left alone then).
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        if self.0.is_empty() {
            return std::borrow::Cow::Borrowed(bytes);
        }
        match std::str::from_utf8(bytes) {
            Ok(t) => std::borrow::Cow::Owned(self.redact(t).into_bytes()),
            Err(_) => std::borrow::Cow::Borrowed(bytes),
        }
    }
}

/// Whether a header's value is a credential, by its name.
pub(crate) fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "authorization",
        "token",
        "key",
        "secret",
        "password",
        "cookie",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// The `NAME`s of the `REPLACE_ENV_<NAME>` placeholders in `text`, in order, without repeats.
pub fn env_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        let after = &rest[at + MARK.len()..];
        let len = name_len(after);
        let name = after[..len].to_string();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
        rest = &after[len..];
    }
    names
}

/// The submitter's values of the placeholders of `text`, from this process's environment (what
/// `coordinator submit` sends along); a name that is not set is left out (the coordinator then
/// names it in its error).
pub fn env_values(text: &str) -> BTreeMap<String, String> {
    env_names(text)
        .into_iter()
        .filter_map(|n| std::env::var(&n).ok().map(|v| (n, v)))
        .collect()
}

fn name_len(after: &str) -> usize {
    after
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(after.len())
}

/// Replaces every `REPLACE_ENV_<NAME>` (NAME: `[A-Za-z0-9_]+`) with its value from `env`;
/// returns the text and the values used.
pub(crate) fn fill_env(
    text: &str,
    origin: &Path,
    env: EnvSource<'_>,
) -> Result<(String, Vec<String>), ProfileError> {
    let mut out = String::with_capacity(text.len());
    let mut used = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let after = &rest[at + MARK.len()..];
        let len = name_len(after);
        let name = &after[..len];
        let value = env.get(name).ok_or_else(|| ProfileError::MissingEnv {
            file: origin.to_path_buf(),
            name: name.to_string(),
        })?;
        out.push_str(&value);
        used.push(value);
        rest = &after[len..];
    }
    out.push_str(rest);
    Ok((out, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_occurrence_longest_first_and_json_escaped() {
        let mut s = Secrets::default();
        s.add("sk-abc");
        s.add("sk-abcdef");
        s.add("quo\"te-secret");
        let text = r#"key sk-abcdef and sk-abc; {"h":"quo\"te-secret"}"#;
        assert_eq!(
            s.redact(text),
            r#"key <redacted> and <redacted>; {"h":"<redacted>"}"#
        );
    }

    #[test]
    fn secret_headers_by_name_and_short_env_values_kept() {
        for n in ["Authorization", "X-Api-Key", "x-auth-token", "Cookie"] {
            assert!(is_secret_header(n), "{n}");
        }
        assert!(!is_secret_header("X-Request-Class"));
        let mut s = Secrets::default();
        s.add_env("80");
        assert!(s.is_empty());
    }

    #[test]
    fn fills_from_the_values_sent_never_from_this_process() {
        std::env::set_var("FLEETBENCH_SECRETS_TEST_ONLY_HERE", "from-the-coordinator");
        let text = "a: REPLACE_ENV_FLEETBENCH_SECRETS_TEST_ONLY_HERE\nb: REPLACE_ENV_X1";
        assert_eq!(env_names(text), ["FLEETBENCH_SECRETS_TEST_ONLY_HERE", "X1"]);
        let sent: BTreeMap<String, String> = [("X1".to_string(), "one".to_string())].into();
        let e = fill_env(text, Path::new("p.yaml"), EnvSource::Sent(&sent)).unwrap_err();
        assert!(
            e.to_string().contains("FLEETBENCH_SECRETS_TEST_ONLY_HERE"),
            "{e}"
        );
        let both: BTreeMap<String, String> = [
            ("X1".to_string(), "one".to_string()),
            (
                "FLEETBENCH_SECRETS_TEST_ONLY_HERE".to_string(),
                "from-the-submitter".to_string(),
            ),
        ]
        .into();
        let (filled, used) = fill_env(text, Path::new("p.yaml"), EnvSource::Sent(&both)).unwrap();
        assert_eq!(filled, "a: from-the-submitter\nb: one");
        assert_eq!(used, ["from-the-submitter", "one"]);
    }
}
