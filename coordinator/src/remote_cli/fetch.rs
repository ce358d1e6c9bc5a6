//! `coordinator fetch RUN_ID --out DIR`: downloads a run's directory from a running
//! `coordinator serve` into `DIR/RUN_ID/`. Every path the coordinator sends is checked to be a
//! plain relative path (no `..`, no root, no drive) before anything is written, files are
//! created new (never through an existing file or link), and each file's chunks must arrive in
//! order and complete.

use super::Remote;
use anyhow::{bail, Context};
use fleetbench_proto::v1 as wire;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

#[derive(clap::Args, Clone)]
pub struct Args {
    /// The run to download (see `coordinator runs`).
    pub run_id: String,
    /// The files go to DIR/RUN_ID/, which must not exist yet.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    #[command(flatten)]
    pub remote: Remote,
}

/// Downloads the run and prints where it went.
pub async fn run(args: Args) -> anyhow::Result<()> {
    if !fleetbench_coordinator::remote::runs::is_run_id(&args.run_id) {
        bail!("{:?} is not a run id (see `coordinator runs`)", args.run_id);
    }
    let target = args.out.join(&args.run_id);
    if target.exists() {
        bail!(
            "{} exists already: remove it or give another --out",
            target.display()
        );
    }
    let mut client =
        crate::dial_cli::connect(&args.remote.coordinator, &args.remote.dial.security()?).await?;
    let mut chunks = client
        .fetch_run(wire::FetchRunRequest {
            run_id: args.run_id.clone(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner();
    std::fs::create_dir_all(&target).with_context(|| format!("create {}", target.display()))?;
    let mut sink = Sink::new(target.clone());
    loop {
        match chunks.message().await {
            Ok(Some(chunk)) => sink.take(chunk)?,
            Ok(None) => break,
            Err(s) => bail!(
                "the download of run {} broke off after {} files: {} ({} is incomplete)",
                args.run_id,
                sink.files,
                s.message(),
                target.display()
            ),
        }
    }
    sink.finish()?;
    println!(
        "fetched run {}: {} files, {} bytes into {}",
        args.run_id,
        sink.files,
        sink.bytes,
        target.display()
    );
    Ok(())
}

/// Writes the chunks of a run's files under one directory.
struct Sink {
    root: PathBuf,
    /// The file being written: its relative path, handle and bytes so far.
    open: Option<(String, std::fs::File, u64)>,
    files: u64,
    bytes: u64,
}

impl Sink {
    fn new(root: PathBuf) -> Sink {
        Sink {
            root,
            open: None,
            files: 0,
            bytes: 0,
        }
    }

    fn take(&mut self, chunk: wire::FileChunk) -> anyhow::Result<()> {
        if self.open.as_ref().is_none_or(|(p, _, _)| *p != chunk.path) {
            if let Some((p, _, _)) = &self.open {
                bail!(
                    "the coordinator sent {:?} before the end of {p:?}",
                    chunk.path
                );
            }
            let rel = safe_relative(&chunk.path)?;
            let path = self.root.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("create {}", parent.display()))?;
            }
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .with_context(|| format!("create {}", path.display()))?;
            self.open = Some((chunk.path.clone(), f, 0));
        }
        let Some((p, f, written)) = self.open.as_mut() else {
            unreachable!("a file was just opened");
        };
        if chunk.offset != *written {
            bail!(
                "{p}: a chunk at offset {} where {} bytes were written",
                chunk.offset,
                written
            );
        }
        f.write_all(&chunk.data)
            .with_context(|| format!("write {}", self.root.join(&*p).display()))?;
        *written += chunk.data.len() as u64;
        self.bytes += chunk.data.len() as u64;
        if chunk.last {
            self.open = None;
            self.files += 1;
        }
        Ok(())
    }

    fn finish(&self) -> anyhow::Result<()> {
        if let Some((p, _, _)) = &self.open {
            bail!("the coordinator ended the download in the middle of {p:?}");
        }
        Ok(())
    }
}

/// `path` as a relative path of plain names; an error for anything that could leave the
/// download directory (`..`, a root, a drive prefix, an empty or `.` component, a backslash).
fn safe_relative(path: &str) -> anyhow::Result<&Path> {
    let p = Path::new(path);
    let plain = !path.is_empty()
        && !path.contains('\\')
        && !path.contains('\0')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
        && p.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        bail!("the coordinator sent the file path {path:?}, which is not a plain relative path: refused");
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_accepted() {
        for ok in ["summary.md", "stage-0/report.json", "a/b/c.txt"] {
            assert!(safe_relative(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "..",
            ".",
            "a\\..\\b",
            "C:\\x",
            "a/\0",
        ] {
            assert!(safe_relative(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn chunks_out_of_order_or_cut_short_are_refused() {
        let dir = std::env::temp_dir().join(format!("fleetbench-fetch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let chunk = |path: &str, offset: u64, data: &[u8], last: bool| wire::FileChunk {
            path: path.into(),
            offset,
            data: data.to_vec(),
            last,
        };
        let mut s = Sink::new(dir.clone());
        s.take(chunk("a/x.txt", 0, b"hello ", false)).unwrap();
        s.take(chunk("a/x.txt", 6, b"world", true)).unwrap();
        s.take(chunk("empty", 0, b"", true)).unwrap();
        s.finish().unwrap();
        assert_eq!(std::fs::read(dir.join("a/x.txt")).unwrap(), b"hello world");
        assert_eq!((s.files, s.bytes), (2, 11));
        // A gap, a second file before the first ended, a file sent twice, a cut.
        assert!(s.take(chunk("b", 3, b"x", true)).is_err());
        let mut s = Sink::new(dir.clone());
        s.take(chunk("c", 0, b"x", false)).unwrap();
        assert!(s.finish().is_err());
        assert!(s.take(chunk("d", 0, b"x", true)).is_err());
        let mut s = Sink::new(dir.clone());
        assert!(s.take(chunk("a/x.txt", 0, b"again", true)).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
