//! What every request handler of `sim serve` shares: how tokens are timed and the instance's
//! state (metrics, ground truth, faults, prefix cache).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::cli::Role;
use crate::engine::EngineHandle;
use crate::faults::FaultPlan;
use crate::ground_truth::GroundTruthLog;
use crate::metrics::Metrics;

/// How tokens are timed.
pub(crate) enum Timing {
    Deterministic { ttft: Duration, itl: Duration },
    Engine(EngineHandle),
}

pub(crate) struct AppState {
    pub(crate) model: String,
    pub(crate) loras: Vec<String>,
    pub(crate) role: Role,
    pub(crate) timing: Timing,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) ground_truth: Option<Arc<GroundTruthLog>>,
    pub(crate) faults: FaultPlan,
    pub(crate) seq: AtomicU64,
    pub(crate) seed: u64,
    pub(crate) models_body: Bytes,
    pub(crate) instance_id: String,
    pub(crate) required_headers: Vec<(String, String)>,
    pub(crate) log_headers: Vec<String>,
    /// `--session-token-header`: the header that carries a session token on every response.
    pub(crate) session_token_header: Option<http::HeaderName>,
    /// With `--cached-tokens`: the prefix cache as the usage reports it.
    pub(crate) prefix_cache: Option<crate::prefix_cache::PrefixCache>,
    pub(crate) framing: crate::sse_body::Framing,
}
