//! Shared-token credentials of the control plane: what an agent or a client presents to the
//! coordinator when mutual TLS is not used (or in addition to it).
//!
//! A token names its role: `agent:SECRET` may only join; `client:SECRET` may submit, watch and
//! read reports. A token source (a `--token-file` or the `FLEETBENCH_TOKEN` variable) holds one
//! token or both, separated by white space, commas or new lines (`#` starts a comment line). The
//! coordinator needs both; an agent sends its `agent:` token, a submitter its `client:` token.
//! Parsing only: comparing happens in the coordinator, in constant time.

use std::fmt;
use std::path::Path;

/// What a credential allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// `Join` only.
    Agent,
    /// `Submit`, `Watch`, `GetReport`.
    Client,
}

impl Access {
    /// Both kinds of access.
    pub const ALL: [Access; 2] = [Access::Agent, Access::Client];

    /// The prefix of this access's tokens (`agent`, `client`).
    pub fn name(self) -> &'static str {
        match self {
            Access::Agent => "agent",
            Access::Client => "client",
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a token source was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The source could not be read.
    #[error("{source_name}: cannot read: {error}")]
    Read {
        /// Where the tokens came from (a file, the environment).
        source_name: String,
        /// The read's error.
        error: std::io::Error,
    },
    /// An entry is not `agent:SECRET` or `client:SECRET`.
    #[error("{source_name}: entry {entry} is not `agent:SECRET` or `client:SECRET`")]
    Malformed {
        /// Where the tokens came from (a file, the environment).
        source_name: String,
        /// The entry's number, from 1.
        entry: usize,
    },
    /// A secret is shorter than 16 characters.
    #[error("{source_name}: the secret of the {access} token is shorter than {MIN_SECRET_LEN} characters")]
    Short {
        /// Where the tokens came from (a file, the environment).
        source_name: String,
        /// The access concerned.
        access: Access,
    },
    /// Two tokens of one access.
    #[error("{source_name}: two {access} tokens")]
    Duplicate {
        /// Where the tokens came from (a file, the environment).
        source_name: String,
        /// The access concerned.
        access: Access,
    },
    /// No token of an access the process needs.
    #[error("{source_name}: no {access} token (a line `{access}:SECRET`)")]
    Missing {
        /// Where the tokens came from (a file, the environment).
        source_name: String,
        /// The access concerned.
        access: Access,
    },
}

/// Shortest secret accepted: 16 characters.
pub(crate) const MIN_SECRET_LEN: usize = 16;

/// The tokens of one source. `Debug` shows the roles only, never a secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    agent: Option<String>,
    client: Option<String>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("agent", &self.agent.as_ref().map(|_| "<redacted>"))
            .field("client", &self.client.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Tokens {
    /// Parses a token source's text; `source_name` names it in errors (a file, a variable).
    pub fn parse(text: &str, source_name: &str) -> Result<Tokens, TokenError> {
        let mut tokens = Tokens::default();
        let entries = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.split(|c: char| c.is_whitespace() || c == ','))
            .filter(|e| !e.is_empty());
        for (i, entry) in entries.enumerate() {
            let (role, secret) = entry.split_once(':').ok_or(TokenError::Malformed {
                source_name: source_name.to_string(),
                entry: i + 1,
            })?;
            let access = match role {
                "agent" => Access::Agent,
                "client" => Access::Client,
                _ => {
                    return Err(TokenError::Malformed {
                        source_name: source_name.to_string(),
                        entry: i + 1,
                    })
                }
            };
            if secret.len() < MIN_SECRET_LEN {
                return Err(TokenError::Short {
                    source_name: source_name.to_string(),
                    access,
                });
            }
            let slot = tokens.slot(access);
            if slot.is_some() {
                return Err(TokenError::Duplicate {
                    source_name: source_name.to_string(),
                    access,
                });
            }
            *slot = Some(entry.to_string());
        }
        Ok(tokens)
    }

    /// Reads a token file.
    pub fn read_file(path: &Path) -> Result<Tokens, TokenError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| TokenError::Read {
            source_name: name.clone(),
            error,
        })?;
        Tokens::parse(&text, &name)
    }

    /// The tokens from `file` if given, else from the `FLEETBENCH_TOKEN` variable, else none.
    pub fn from_file_or_env(file: Option<&Path>) -> Result<Option<Tokens>, TokenError> {
        if let Some(f) = file {
            return Tokens::read_file(f).map(Some);
        }
        match std::env::var(TOKEN_ENV) {
            Ok(v) if !v.trim().is_empty() => Tokens::parse(&v, TOKEN_ENV).map(Some),
            _ => Ok(None),
        }
    }

    /// Fresh random tokens of both roles (32 random bytes each, hex).
    pub fn generate() -> Tokens {
        use rand::RngCore;
        let secret = || {
            let mut b = [0u8; 32];
            rand::rng().fill_bytes(&mut b);
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        };
        Tokens {
            agent: Some(format!("agent:{}", secret())),
            client: Some(format!("client:{}", secret())),
        }
    }

    /// The whole token (`agent:SECRET`) of a role, as sent on the wire.
    pub fn get(&self, access: Access) -> Option<&str> {
        match access {
            Access::Agent => self.agent.as_deref(),
            Access::Client => self.client.as_deref(),
        }
    }

    /// The token of `access`, or an error naming the source and the line it lacks.
    pub fn require(&self, access: Access, source_name: &str) -> Result<&str, TokenError> {
        self.get(access).ok_or(TokenError::Missing {
            source_name: source_name.to_string(),
            access,
        })
    }

    /// The file text of these tokens, one per line.
    pub fn to_file_text(&self) -> String {
        Access::ALL
            .iter()
            .filter_map(|a| self.get(*a))
            .map(|t| format!("{t}\n"))
            .collect()
    }

    /// Only the token of `access`.
    pub fn only(&self, access: Access) -> Tokens {
        let mut t = Tokens::default();
        *t.slot(access) = self.get(access).map(str::to_string);
        t
    }

    fn slot(&mut self, access: Access) -> &mut Option<String> {
        match access {
            Access::Agent => &mut self.agent,
            Access::Client => &mut self.client,
        }
    }
}

/// The environment variable that may hold tokens instead of a `--token-file`.
pub const TOKEN_ENV: &str = "FLEETBENCH_TOKEN";

/// The gRPC metadata key a token travels in, as `Bearer TOKEN`.
pub const TOKEN_HEADER: &str = "authorization";

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "agent:0123456789abcdef0123";
    const C: &str = "client:fedcba9876543210fedc";

    #[test]
    fn parses_both_roles_in_any_layout() {
        for text in [
            format!("{A}\n{C}\n"),
            format!("# tokens\n{C} {A}"),
            format!("{A},{C}"),
        ] {
            let t = Tokens::parse(&text, "f").unwrap();
            assert_eq!(t.get(Access::Agent), Some(A));
            assert_eq!(t.get(Access::Client), Some(C));
        }
    }

    #[test]
    fn refuses_unknown_roles_short_and_duplicate_secrets() {
        assert!(matches!(
            Tokens::parse("admin:0123456789abcdef0123", "f"),
            Err(TokenError::Malformed { entry: 1, .. })
        ));
        assert!(matches!(
            Tokens::parse("agent:short", "f"),
            Err(TokenError::Short { .. })
        ));
        assert!(matches!(
            Tokens::parse(&format!("{A}\n{A}"), "f"),
            Err(TokenError::Duplicate { .. })
        ));
        let only_agent = Tokens::parse(A, "FLEETBENCH_TOKEN").unwrap();
        let e = only_agent.require(Access::Client, "FLEETBENCH_TOKEN");
        assert!(e.unwrap_err().to_string().contains("no client token"));
    }

    #[test]
    fn debug_never_shows_a_secret_and_generated_tokens_round_trip() {
        let t = Tokens::generate();
        let shown = format!("{t:?}");
        assert!(!shown.contains(t.get(Access::Agent).unwrap()));
        assert_eq!(Tokens::parse(&t.to_file_text(), "f").unwrap(), t);
        assert_eq!(t.only(Access::Agent).get(Access::Client), None);
    }
}
