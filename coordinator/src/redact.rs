//! Secrets out of the coordinator's logs and console: the secrets of every profile this process
//! ran or accepted are registered here, and [`RedactingWriter`] (the tracing writer) and
//! [`redact`] (for what is printed on stdout) write each as `<redacted>`. The run directory's
//! files are redacted by the store ([`crate::store::RunStore::with_secrets`]).

use fleetbench_profile::Secrets;
use std::sync::RwLock;

static REGISTERED: RwLock<Option<Secrets>> = RwLock::new(None);

/// Adds a profile's secrets to those redacted from logs and console output.
pub fn register(secrets: &Secrets) {
    if secrets.is_empty() {
        return;
    }
    let mut r = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    r.get_or_insert_with(Secrets::default).extend(secrets);
}

/// `text` with every registered secret written `<redacted>`.
pub fn redact(text: &str) -> String {
    match REGISTERED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
    {
        Some(s) => s.redact(text),
        None => text.to_string(),
    }
}

/// A log writer that redacts every registered secret before passing a line on to `W`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactingWriter<W>(pub W);

impl<W: std::io::Write> std::io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let guard = REGISTERED.read().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(s) => {
                let out = s.redact_bytes(buf);
                drop(guard);
                self.0.write_all(&out)?;
                Ok(buf.len())
            }
            None => {
                drop(guard);
                self.0.write(buf)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<'a, M: tracing_subscriber::fmt::MakeWriter<'a>> tracing_subscriber::fmt::MakeWriter<'a>
    for RedactingWriter<M>
{
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(self.0.make_writer())
    }
}
