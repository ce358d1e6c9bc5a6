//! Where the coordinator's log lines go: stderr, or, while the full-screen view is up, a
//! bounded in-memory pane that the view draws (the lines are never written across the view).
//! When the view closes, the pane's lines are written to stderr, so none is lost from sight
//! but those beyond the pane's bound (their count is said). Without the `tui` feature there is
//! no pane to fill: the lines always go to stderr.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Mutex;

/// The most lines the pane keeps.
const PANE_LINES: usize = 200;
/// The longest line the pane keeps, bytes (the rest is cut).
const LINE_BYTES: usize = 1000;

#[derive(Debug, Default)]
struct Pane {
    lines: VecDeque<String>,
    /// An unfinished line (a write without its newline yet).
    partial: Vec<u8>,
    dropped: u64,
}

impl Pane {
    fn push_bytes(&mut self, buf: &[u8]) {
        for &b in buf {
            if b == b'\n' {
                let line = strip_ansi(&String::from_utf8_lossy(&self.partial));
                self.partial.clear();
                self.push_line(line);
            } else if self.partial.len() < LINE_BYTES {
                self.partial.push(b);
            }
        }
    }

    fn push_line(&mut self, line: String) {
        if self.lines.len() == PANE_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(line);
    }
}

static PANE: Mutex<Option<Pane>> = Mutex::new(None);

fn pane() -> std::sync::MutexGuard<'static, Option<Pane>> {
    PANE.lock().unwrap_or_else(|e| e.into_inner())
}

/// From now on, log lines go to the pane.
#[cfg(feature = "tui")]
pub(crate) fn capture() {
    pane().get_or_insert_with(Pane::default);
}

/// Log lines go to stderr again; the pane's lines (and how many were dropped) are returned.
#[cfg(feature = "tui")]
pub(crate) fn release() -> (Vec<String>, u64) {
    match pane().take() {
        Some(mut p) => {
            if !p.partial.is_empty() {
                let line = strip_ansi(&String::from_utf8_lossy(&p.partial));
                p.push_line(line);
            }
            (p.lines.into(), p.dropped)
        }
        None => (Vec::new(), 0),
    }
}

/// The pane's last `n` lines.
#[cfg(feature = "tui")]
pub(crate) fn tail(n: usize) -> Vec<String> {
    pane().as_ref().map_or_else(Vec::new, |p| {
        p.lines
            .iter()
            .skip(p.lines.len().saturating_sub(n))
            .cloned()
            .collect()
    })
}

/// `text` without terminal escape sequences (colours of the log formatter).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte (0x40..=0x7e).
            if chars.next() == Some('[') {
                for d in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&d) {
                        break;
                    }
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

/// The log writer (`tracing_subscriber::fmt().with_writer(LogWriter)`): stderr, or the pane
/// while the full-screen view is up.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut p = pane();
        match p.as_mut() {
            Some(pane) => {
                pane.push_bytes(buf);
                Ok(buf.len())
            }
            None => {
                drop(p);
                std::io::stderr().write(buf)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pane_keeps_whole_lines_without_colours_and_stays_bounded() {
        let mut p = Pane::default();
        p.push_bytes(b"\x1b[2m2026\x1b[0m \x1b[33m WARN\x1b[0m agent lost\n half");
        p.push_bytes(b" a line\n");
        assert_eq!(p.lines, ["2026  WARN agent lost", " half a line"]);
        for i in 0..PANE_LINES + 5 {
            p.push_bytes(format!("{i}\n").as_bytes());
        }
        assert_eq!(p.lines.len(), PANE_LINES);
        assert_eq!(p.dropped, 7);
        p.push_bytes(&vec![b'x'; 5 * LINE_BYTES]);
        p.push_bytes(b"\n");
        assert_eq!(p.lines.back().map(String::len), Some(LINE_BYTES));
    }
}
