//! What a remote client asks of a long-running coordinator besides runs themselves: the checks
//! before a long run ([`check`], `coordinator preflight`), the list of its runs ([`runs`]) and a
//! run directory's files ([`fetch`]).

pub(crate) mod check;
pub(crate) mod fetch;
pub mod runs;
