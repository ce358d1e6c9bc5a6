//! The `FetchRun` RPC: a run directory's regular files, streamed in chunks of at most
//! [`CHUNK_BYTES`]. Only what lies under that run's directory goes out: the run id is a plain
//! name, symbolic links are never followed (neither a linked file nor a linked directory), and
//! each file's real path is checked to be inside the run directory before it is read.

use crate::hub::Hub;
use crate::remote::runs::is_run_id;
use crate::store::{run_files, ListError};
use fleetbench_proto::v1 as wire;
use std::io::Read;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;
use tonic::Status;

/// The data of one chunk, at most.
pub(crate) const CHUNK_BYTES: usize = 256 << 10;

/// The directory of `run_id`, if it is a run of this coordinator with a real directory.
pub(crate) fn run_dir(hub: &Hub, run_id: &str) -> Result<PathBuf, Status> {
    if !is_run_id(run_id) {
        return Err(Status::invalid_argument(format!(
            "{run_id:?} is not a run id (letters, digits, '-', '_', '.'; see `coordinator runs`)"
        )));
    }
    let dir = hub.config.results_dir.join(run_id);
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => Ok(dir),
        Ok(_) => Err(Status::not_found(format!(
            "run {run_id}: its directory is not a plain directory"
        ))),
        Err(_) if hub.run_progress(run_id).is_some() => Err(Status::not_found(format!(
            "run {run_id} has no files yet (it is waiting for its agents or failed before its plan)"
        ))),
        Err(_) => Err(Status::not_found(format!("no run {run_id}"))),
    }
}

/// Streams the files of `dir` into `tx` (on a blocking thread); stops when the receiver is gone.
pub(crate) fn send_files(dir: PathBuf, tx: mpsc::Sender<Result<wire::FileChunk, Status>>) {
    let result = walk(&dir, &tx);
    if let Err(status) = result {
        let _ = tx.blocking_send(Err(status));
    }
}

/// The files of the run directory `root` (`store::run_files`), each sent in chunks.
fn walk(root: &Path, tx: &mpsc::Sender<Result<wire::FileChunk, Status>>) -> Result<(), Status> {
    let real_root = root
        .canonicalize()
        .map_err(|e| Status::internal(format!("the run directory: {e}")))?;
    let files = run_files(root).map_err(|e| match e {
        ListError::TooMany => Status::resource_exhausted(e.to_string()),
        ListError::Read { .. } => Status::internal(e.to_string()),
    })?;
    for rel in files {
        if !send_file(&root.join(&rel), &real_root, &rel, tx)? {
            return Ok(());
        }
    }
    Ok(())
}

/// One file in chunks; false when the receiver is gone.
fn send_file(
    path: &Path,
    real_root: &Path,
    rel: &str,
    tx: &mpsc::Sender<Result<wire::FileChunk, Status>>,
) -> Result<bool, Status> {
    let err = |e: std::io::Error| Status::internal(format!("{rel}: {e}"));
    // Replaced by a link since it was listed, or reached through one: not sent.
    if !path.canonicalize().map_err(err)?.starts_with(real_root) {
        return Err(Status::permission_denied(format!(
            "{rel} lies outside the run directory"
        )));
    }
    let mut f = std::fs::File::open(path).map_err(err)?;
    if !f.metadata().map_err(err)?.is_file() {
        return Ok(true);
    }
    let mut offset = 0u64;
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        let n = read_full(&mut f, &mut buf).map_err(err)?;
        let last = n < buf.len();
        let chunk = wire::FileChunk {
            path: rel.to_string(),
            offset,
            data: buf[..n].to_vec(),
            last,
        };
        if tx.blocking_send(Ok(chunk)).is_err() {
            return Ok(false);
        }
        offset += n as u64;
        if last {
            return Ok(true);
        }
    }
}

/// Reads until `buf` is full or the file ends; the bytes read.
fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
