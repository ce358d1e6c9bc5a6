//! A stage's snapshot log read back: `snapshots/stage-<k>.pb` holds length-delimited
//! `fleetbench.v1.Snapshot` messages in arrival order (the coordinator's store appends them).

use fleetbench_proto::v1 as wire;
use prost::Message;
use std::path::{Path, PathBuf};

/// A snapshot log that could not be read or decoded.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct SnapshotLogError {
    /// The log's path.
    pub path: PathBuf,
    /// What went wrong (`InvalidData` for a message that does not decode).
    #[source]
    pub source: std::io::Error,
}

/// Reads a stage's snapshot log back, in arrival order.
pub fn read_snapshots(path: &Path) -> Result<Vec<wire::Snapshot>, SnapshotLogError> {
    let err = |source| SnapshotLogError {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(err)?;
    let mut buf = bytes.as_slice();
    let mut out = Vec::new();
    while !buf.is_empty() {
        let s = wire::Snapshot::decode_length_delimited(&mut buf)
            .map_err(|e| err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        out.push(s);
    }
    Ok(out)
}
