//! The coordinator's conversions between its own types and the control plane's messages that
//! are not the model's (those are in `fleetbench_model`'s `wire.rs`): a run's progress as a
//! `Watch` event and back.

use crate::hub::Progress;
use fleetbench_proto::v1 as wire;

impl Progress {
    /// The progress as a `Watch` event (`ttft_p50_ms`: NaN when there is none yet).
    pub fn to_wire(&self) -> wire::RunEvent {
        wire::RunEvent {
            run_id: self.run_id.clone(),
            stage: self.stage,
            stages: self.stages,
            requests_done: self.requests_done,
            requests_planned: self.requests_planned,
            failures: self.failures,
            ttft_p50_ms: self.ttft_p50_ms.unwrap_or(f64::NAN),
            agents: self.agents,
            message: self.message.clone(),
            finished: self.finished,
            error: self.error.clone(),
            live: self.live.clone(),
            ended: self.ended.clone(),
        }
    }

    /// A `Watch` event as progress.
    pub fn from_wire(ev: &wire::RunEvent) -> Progress {
        Progress {
            run_id: ev.run_id.clone(),
            stage: ev.stage,
            stages: ev.stages,
            requests_done: ev.requests_done,
            requests_planned: ev.requests_planned,
            failures: ev.failures,
            ttft_p50_ms: ev.ttft_p50_ms.is_finite().then_some(ev.ttft_p50_ms),
            agents: ev.agents,
            message: ev.message.clone(),
            finished: ev.finished,
            error: ev.error.clone(),
            live: ev.live.clone(),
            ended: ev.ended.clone(),
            ..Default::default()
        }
    }
}
