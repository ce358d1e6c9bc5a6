//! What the engine tells one request (the message on each request's own channel).

/// What the engine tells one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EngineEvent {
    /// One output token was generated.
    Token,
    /// The prompt is computed (prefill-only requests; no token follows).
    PrefillDone,
}
