//! What a probe counted, and why one stopped early.

/// What a probe counted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Responses that ended.
    pub requests: u64,
    /// SSE events (`data: ` lines) received.
    pub events: u64,
    /// Reads (completions with data).
    pub reads: u64,
    /// Reads that came without a kernel receive timestamp.
    pub unstamped: u64,
    /// Sum of the gaps between consecutive reads' timestamps of a connection, ns (kept so the
    /// stamps are used, as the agent uses them).
    pub gap_ns: u64,
}

/// Why a probe stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A connection could not be made.
    #[error("connect to {addr}: {source}")]
    Connect {
        /// The server.
        addr: String,
        /// What the kernel said.
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// Which call.
        what: &'static str,
        /// What the kernel said.
        source: std::io::Error,
    },
    /// The server closed a connection.
    #[error("the server closed a connection")]
    Closed,
    /// A request did not go out whole in one write.
    #[error("a request went out short ({0} bytes)")]
    ShortSend(usize),
    /// This build or this kernel has no io_uring.
    #[error("io_uring is unavailable: {0}")]
    Unavailable(String),
}
