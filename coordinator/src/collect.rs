//! Collects one stage: applies each (shard, seq) snapshot once, merges it into the stage's
//! totals (histogram addition), and knows when every shard has finished and every snapshot it
//! announced has arrived.

use fleetbench_common::measure::{Counters, MeasureError, Measurements};
use fleetbench_common::plan::Window;
use fleetbench_common::report::AgentTelemetry;
use fleetbench_proto::v1 as wire;
use std::collections::HashSet;

#[derive(Debug, Default)]
struct ShardState {
    seen: HashSet<u64>,
    announced: Option<u64>,
    elapsed_us: u64,
    started_unix_ns: i64,
    counters: Counters,
    samples: Vec<wire::TelemetrySample>,
    lost: bool,
}

#[derive(Debug)]
pub struct StageCollector {
    pub stage: u32,
    shards: Vec<ShardState>,
    pub merged: Measurements,
    pub endpoint: Option<wire::EndpointInfo>,
}

/// What became of one snapshot.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// New: merged (and should be stored and acknowledged).
    New,
    /// Seen before (a resend): acknowledge again, change nothing.
    Duplicate,
}

impl StageCollector {
    pub fn new(stage: u32, shards: usize) -> Self {
        StageCollector {
            stage,
            shards: (0..shards).map(|_| ShardState::default()).collect(),
            merged: Measurements::new(),
            endpoint: None,
        }
    }

    pub fn is_new(&self, s: &wire::Snapshot) -> bool {
        self.shards
            .get(s.shard as usize)
            .is_some_and(|st| !st.seen.contains(&s.seq))
    }

    pub fn apply(&mut self, s: &wire::Snapshot) -> Result<Applied, MeasureError> {
        let Some(st) = self.shards.get_mut(s.shard as usize) else {
            return Ok(Applied::Duplicate);
        };
        if st.seen.contains(&s.seq) {
            return Ok(Applied::Duplicate);
        }
        self.merged.add_snapshot(s)?;
        st.counters.add(&Counters::from_wire(&s.counters));
        st.samples.extend(s.samples.iter().cloned());
        st.seen.insert(s.seq);
        Ok(Applied::New)
    }

    pub fn done(&mut self, d: &wire::ShardDone) {
        if let Some(st) = self.shards.get_mut(d.shard as usize) {
            st.announced = Some(d.snapshots);
            st.elapsed_us = d.elapsed_us;
            st.started_unix_ns = d.started_unix_ns;
        }
        if let Some(e) = &d.endpoint {
            if self.endpoint.as_ref().is_none_or(|x| x.owned_by.is_empty()) {
                self.endpoint = Some(e.clone());
            }
        }
    }

    /// A shard whose agent is gone: the stage completes without its missing snapshots.
    pub fn abandon(&mut self, shard: u32) {
        if let Some(st) = self.shards.get_mut(shard as usize) {
            st.lost = true;
        }
    }

    pub fn complete(&self) -> bool {
        self.complete_except(&[])
    }

    /// Whether every shard but those in `skip` has finished and delivered all its snapshots.
    pub fn complete_except(&self, skip: &[u32]) -> bool {
        self.shards.iter().enumerate().all(|(i, st)| {
            skip.contains(&(i as u32))
                || st.lost
                || st
                    .announced
                    .is_some_and(|n| (0..n).all(|seq| st.seen.contains(&seq)))
        })
    }

    pub fn lost_shards(&self) -> Vec<u32> {
        (0..self.shards.len() as u32)
            .filter(|&i| self.shards[i as usize].lost)
            .collect()
    }

    /// The longest time any shard took from start to its last request's end.
    pub fn elapsed_s(&self) -> f64 {
        self.shards.iter().map(|s| s.elapsed_us).max().unwrap_or(0) as f64 / 1e6
    }

    /// Each shard's telemetry samples taken inside `window` (seconds from the shard's own
    /// start, in its own clock).
    pub fn telemetry_in(&self, ids: &[String], window: Window) -> Vec<AgentTelemetry> {
        self.shards
            .iter()
            .zip(ids)
            .map(|(st, id)| {
                let from = st.started_unix_ns + (window.start_s * 1e9) as i64;
                let to = window.end_s.map(|e| st.started_unix_ns + (e * 1e9) as i64);
                AgentTelemetry {
                    agent_id: id.clone(),
                    samples: st
                        .samples
                        .iter()
                        .filter(|s| {
                            s.agent_unix_ns >= from && to.is_none_or(|t| s.agent_unix_ns < t)
                        })
                        .cloned()
                        .collect(),
                }
            })
            .collect()
    }

    /// What each shard reported: its counts and its start in its own clock.
    pub fn shard_reports(&self) -> Vec<ShardReport> {
        self.shards
            .iter()
            .map(|s| ShardReport {
                requests: s.counters.requests,
                ok: s.counters.ok,
                started_unix_ns: s.started_unix_ns,
                lost: s.lost,
                conn_opened: s.counters.conn_opened,
                conn_reused: s.counters.conn_reused,
                retries: s.counters.retries,
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardReport {
    pub requests: u64,
    pub ok: u64,
    pub started_unix_ns: i64,
    pub lost: bool,
    /// HTTP connections the shard's agent opened, requests it sent on reused ones, and
    /// requests it retried on a fresh one.
    pub conn_opened: u64,
    pub conn_reused: u64,
    pub retries: u64,
}
