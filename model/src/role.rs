//! What an agent's host is in the deployment: it decides the agent's host group and its default
//! load weight.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The part a host plays in the deployment under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A host that only generates load.
    Client,
    /// A prefill host of a P/D deployment.
    Prefill,
    /// A decode host of a P/D deployment.
    Decode,
    /// Anything else (a router, a replica host).
    Other,
}

impl Role {
    /// Every role, in the order host groups list them.
    pub const ALL: [Role; 4] = [Role::Prefill, Role::Decode, Role::Client, Role::Other];

    /// The role as profiles and reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Prefill => "prefill",
            Role::Decode => "decode",
            Role::Other => "other",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}; allowed: prefill, decode, client, other"))
    }
}
