//! What the uploads need of a bucket ([`ObjectStore`], one implementation per service) and
//! how its requests fail ([`Failure`]).

use super::http::Http;
use std::path::Path;

/// Why a request to a bucket failed, and whether another try may help (no answer, or a 429
/// or 5xx one).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) retry: bool,
}

impl Failure {
    /// The server answered `status`.
    pub(crate) fn answered(status: u16, message: String) -> Failure {
        Failure {
            message,
            retry: status == 429 || status >= 500,
        }
    }

    /// Not worth another try.
    pub(crate) fn fatal(message: String) -> Failure {
        Failure {
            message,
            retry: false,
        }
    }
}

impl From<String> for Failure {
    /// No answer came (connection, TLS, timeout): worth another try.
    fn from(message: String) -> Failure {
        Failure {
            message,
            retry: true,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What [`ObjectStore::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Put {
    /// The object was written: its bytes.
    Written(u64),
    /// An object of that name was there; it was left as it was.
    AlreadyThere,
}

/// A bucket's operations, each with the headers [`ObjectStore::session`] gave.
pub(crate) trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// `gs://bucket/key` or `s3://bucket/key`.
    fn url(&self, key: &str) -> String;
    /// Headers every request of one phase carries (an access token).
    fn session(&self, http: &Http) -> Result<Vec<(String, String)>, Failure>;
    /// The bucket is there and these credentials reach it.
    fn check(&self, http: &Http, auth: &[(String, String)]) -> Result<(), Failure>;
    /// Writes object `key` from `file` (read as it is sent, never whole in memory), unless an
    /// object `key` is already there.
    fn put(
        &self,
        http: &Http,
        auth: &[(String, String)],
        key: &str,
        file: &Path,
        content_type: &str,
    ) -> Result<Put, Failure>;
}

/// `file`, opened, and its length.
pub(crate) fn open(file: &Path) -> Result<(std::fs::File, u64), Failure> {
    let f = std::fs::File::open(file)
        .map_err(|e| Failure::fatal(format!("{}: {e}", file.display())))?;
    let len = (f.metadata())
        .map_err(|e| Failure::fatal(format!("{}: {e}", file.display())))?
        .len();
    Ok((f, len))
}
