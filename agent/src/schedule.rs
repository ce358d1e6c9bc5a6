//! Pacing of open-loop requests. A dedicated thread walks the shard's intended times, builds
//! each request's body ahead of time and hands it over at its instant (`thread::sleep` wakes
//! within tens of µs; tokio's timer wheel has 1 ms ticks). The async side only spawns. A
//! cooperative spin on the runtime would be as precise but starve its I/O polling, which delays
//! the very chunks being timed.

use crate::request::RequestData;
use fleetbench_model::spec::{Arrival, ShardSpec};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A request due now.
pub struct Due {
    /// The arrival's index: the request's, or the session's when arrivals start sessions.
    pub arrival: u64,
    /// What to send.
    pub data: RequestData,
    /// When it is due (its intended start).
    pub intended: Instant,
}

/// Starts pacing `arrivals` from `start`; the channel closes after the last one (or when the
/// receiver is dropped).
pub fn pace(
    spec: ShardSpec,
    arrivals: Box<dyn Iterator<Item = Arrival> + Send>,
    start: Instant,
) -> mpsc::UnboundedReceiver<Due> {
    let (tx, rx) = mpsc::unbounded_channel();
    let spawned = std::thread::Builder::new()
        .name("fleetbench-pacer".into())
        .spawn(move || {
            for a in arrivals {
                // A session's first round, when arrivals start multi-turn sessions.
                let index = spec.data.source.session_round_index(a.index, 0);
                let data = RequestData::build(&spec, index);
                let intended = start + Duration::from_secs_f64(a.at_s);
                let now = Instant::now();
                if intended > now {
                    std::thread::sleep(intended - now);
                }
                let due = Due {
                    arrival: a.index,
                    data,
                    intended,
                };
                if tx.send(due).is_err() {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the pacing thread: {e}");
    }
    rx
}
