//! The live view built without the `tui` cargo feature: no full-screen view, so nothing takes
//! the terminal over (no raw mode, no keys read as an interrupt) and `--progress tui` falls
//! back to plain progress lines, saying [`NO_TUI`].

/// What `--progress tui` says in a build without the `tui` feature.
pub(crate) const NO_TUI: &str = "this coordinator was built without the `tui` feature (the \
    full-screen view): rebuild with `--features tui`";

/// Never completes: without the full-screen view, Ctrl-C arrives as SIGINT.
pub async fn interrupted() {
    std::future::pending::<()>().await;
}

/// Nothing to restore: the terminal was never taken over.
pub fn restore_terminal() {}
