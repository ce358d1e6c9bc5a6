//! Collects one stage: applies each (shard, seq) snapshot once, merges it into the stage's
//! totals (histogram addition), and knows when every shard has finished and every snapshot it
//! announced has arrived.
//!
//! A shard declared lost is closed: whatever its agent sends afterwards is excluded (the policy
//! `exclude_after_loss`), so a frozen client that resumes cannot add its stalled requests to
//! the stage. Its lost window starts at the end of its last applied snapshot's interval.
//!
//! Snapshots come from the network: [`StageCollector::check`] refuses one whose histogram
//! headers declare more than a stage histogram, whose counters overflow, or whose requests
//! exceed what the plan assigned, before it is stored or merged.

use fleetbench_model::measure::{Counters, MeasureError, Measurements};
use fleetbench_model::spec::Window;
use fleetbench_proto::v1 as wire;
use fleetbench_report::AgentTelemetry;
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
    /// Highest interval among the applied snapshots.
    last_interval: Option<u32>,
    /// Snapshots applied; snapshots (seq) excluded because they came after the loss.
    applied: u64,
    excluded: HashSet<u64>,
    /// Send lag p50 and p99 of the latest interval, µs (for the live view).
    send_lag_us: Option<(u64, u64)>,
}

/// Merges one stage's snapshots from all its shards, exactly once each (by sequence number).
#[derive(Debug)]
pub struct StageCollector {
    shards: Vec<ShardState>,
    /// The stage's measurements merged so far.
    pub merged: Measurements,
    pub(crate) endpoint: Option<wire::EndpointInfo>,
    /// Per failure class, the first error body an applied snapshot carried.
    pub(crate) error_bodies: std::collections::BTreeMap<String, String>,
    /// The requests the plan fixes for the whole stage (no shard, nor all together, may
    /// report more), where it fixes them.
    request_limit: Option<u64>,
    /// The first circuit breaker trip a shard reported (its `ShardDone`), with the shard.
    pub(crate) breaker_trip: Option<(u32, wire::BreakerTrip)>,
}

/// What became of one snapshot.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// New: merged (and should be stored and acknowledged).
    New,
    /// Seen before (a resend): acknowledge again, change nothing.
    Duplicate,
    /// From a shard declared lost, arriving after the loss: not merged.
    Excluded,
}

impl StageCollector {
    /// A collector for a stage of `shards` shards.
    pub fn new(shards: usize) -> Self {
        StageCollector {
            shards: (0..shards).map(|_| ShardState::default()).collect(),
            merged: Measurements::new(),
            endpoint: None,
            error_bodies: std::collections::BTreeMap::new(),
            request_limit: None,
            breaker_trip: None,
        }
    }

    /// The collector with the stage's planned request count as a bound on what agents report.
    pub(crate) fn with_request_limit(mut self, limit: Option<u64>) -> Self {
        self.request_limit = limit;
        self
    }

    /// Whether a new snapshot is acceptable: decodable histogram headers of at most a stage
    /// histogram's size, counters that do not overflow, and no more requests than planned.
    pub(crate) fn check(&self, s: &wire::Snapshot) -> Result<(), MeasureError> {
        let Some(st) = self.shards.get(s.shard as usize) else {
            return Ok(());
        };
        Measurements::check_wire(&s.histograms)?;
        let bad = |m: String| Err(MeasureError::Counters(m));
        let new = Counters::from_wire(&s.counters);
        let Some(sum) = st.counters.checked_add(&new) else {
            return bad(format!("shard {} counters overflow", s.shard));
        };
        if sum.ok > sum.requests || sum.failed() > sum.requests {
            return bad(format!(
                "shard {} reports {} ok and {} failed of {} requests",
                s.shard,
                sum.ok,
                sum.failed(),
                sum.requests
            ));
        }
        if let Some(limit) = self.request_limit {
            let all = self
                .shards
                .iter()
                .map(|x| {
                    x.counters
                        .requests
                        .saturating_add(x.counters.outside_window)
                })
                .fold(0u64, u64::saturating_add)
                .saturating_add(new.requests.saturating_add(new.outside_window));
            let mine = sum.requests.saturating_add(sum.outside_window);
            if mine > limit || all > limit {
                return bad(format!(
                    "shard {} reports {mine} requests (all shards {all}); the stage planned {limit}",
                    s.shard
                ));
            }
        }
        Ok(())
    }

    /// Whether `s` would be merged: not seen before, and its shard is not lost.
    pub(crate) fn is_new(&self, s: &wire::Snapshot) -> bool {
        self.shards
            .get(s.shard as usize)
            .is_some_and(|st| !st.lost && !st.seen.contains(&s.seq))
    }

    /// Merges one snapshot (a duplicate is acknowledged and not merged again).
    pub fn apply(&mut self, s: &wire::Snapshot) -> Result<Applied, MeasureError> {
        let Some(st) = self.shards.get_mut(s.shard as usize) else {
            return Ok(Applied::Duplicate);
        };
        if st.seen.contains(&s.seq) {
            return Ok(Applied::Duplicate);
        }
        if st.lost {
            return Ok(if st.excluded.insert(s.seq) {
                Applied::Excluded
            } else {
                Applied::Duplicate
            });
        }
        self.check(s)?;
        let Some(st) = self.shards.get_mut(s.shard as usize) else {
            return Ok(Applied::Duplicate);
        };
        self.merged.add_snapshot(s)?;
        st.counters.add(&Counters::from_wire(&s.counters));
        st.samples.extend(s.samples.iter().cloned());
        st.seen.insert(s.seq);
        st.applied += 1;
        st.last_interval = Some(st.last_interval.map_or(s.interval, |k| k.max(s.interval)));
        if let Some(lag) = interval_send_lag(s) {
            st.send_lag_us = Some(lag);
        }
        for (class, body) in &s.error_bodies {
            self.error_bodies
                .entry(class.clone())
                .or_insert_with(|| body.clone());
        }
        Ok(Applied::New)
    }

    pub(crate) fn done(&mut self, d: &wire::ShardDone) {
        if let Some(st) = self.shards.get_mut(d.shard as usize).filter(|st| !st.lost) {
            st.announced = Some(d.snapshots);
            st.elapsed_us = d.elapsed_us;
            st.started_unix_ns = d.started_unix_ns;
            if self.breaker_trip.is_none() {
                self.breaker_trip = (d.circuit_breaker.clone()).map(|t| (d.shard, t));
            }
        }
        if let Some(e) = &d.endpoint {
            if self.endpoint.as_ref().is_none_or(|x| x.owned_by.is_empty()) {
                self.endpoint = Some(e.clone());
            }
        }
    }

    /// A shard whose agent is gone: the stage completes without its missing snapshots, and
    /// nothing it sends from now on is merged.
    pub(crate) fn abandon(&mut self, shard: u32) {
        if let Some(st) = self.shards.get_mut(shard as usize) {
            st.lost = true;
        }
    }

    /// Of a lost shard: snapshots applied before the loss, the first interval not covered
    /// (the lost window starts at its beginning), snapshots excluded since.
    pub(crate) fn loss_facts(&self, shard: u32) -> Option<LossFacts> {
        self.shards.get(shard as usize).map(|st| LossFacts {
            applied_snapshots: st.applied,
            first_missing_interval: st.last_interval.map_or(0, |k| k + 1),
            excluded_snapshots: st.excluded.len() as u64,
            requests: st.counters.requests,
        })
    }

    pub(crate) fn complete(&self) -> bool {
        self.complete_except(&[])
    }

    /// Whether every shard but those in `skip` has finished and delivered all its snapshots.
    pub(crate) fn complete_except(&self, skip: &[u32]) -> bool {
        self.shards.iter().enumerate().all(|(i, st)| {
            skip.contains(&(i as u32))
                || st.lost
                || st
                    .announced
                    .is_some_and(|n| (0..n).all(|seq| st.seen.contains(&seq)))
        })
    }

    pub(crate) fn lost_shards(&self) -> Vec<u32> {
        (0..self.shards.len() as u32)
            .filter(|&i| self.shards[i as usize].lost)
            .collect()
    }

    /// The latest interval among all applied snapshots.
    pub(crate) fn latest_interval(&self) -> Option<u32> {
        self.shards.iter().filter_map(|s| s.last_interval).max()
    }

    /// The longest time any shard took from start to its last request's end.
    pub(crate) fn elapsed_s(&self) -> f64 {
        self.shards.iter().map(|s| s.elapsed_us).max().unwrap_or(0) as f64 / 1e6
    }

    /// Each shard's telemetry samples taken inside `window` (seconds from the shard's own
    /// start, in its own clock).
    pub(crate) fn telemetry_in(&self, ids: &[String], window: Window) -> Vec<AgentTelemetry> {
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
    pub(crate) fn shard_reports(&self) -> Vec<ShardReport> {
        self.shards
            .iter()
            .map(|s| ShardReport {
                requests: s.counters.requests,
                outside_window: s.counters.outside_window,
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

impl StageCollector {
    /// Each shard as the live view shows it: requests so far, lost or not, its latest
    /// interval's send lag and its latest telemetry sample.
    pub(crate) fn shard_live(&self) -> Vec<ShardLive<'_>> {
        self.shards
            .iter()
            .map(|s| ShardLive {
                requests: s.counters.requests,
                lost: s.lost,
                send_lag_us: s.send_lag_us,
                latest_sample: s.samples.last(),
            })
            .collect()
    }
}

/// The send lag p50 and p99 of one snapshot's interval, µs; `None` without send lag values.
fn interval_send_lag(s: &wire::Snapshot) -> Option<(u64, u64)> {
    let bytes = (s.histograms).get(fleetbench_model::measure::Metric::SendLag.name())?;
    match Measurements::wire_quantiles(bytes, &[0.5, 0.99])?[..] {
        [p50, p99] => Some((p50, p99)),
        _ => None,
    }
}

/// See [`StageCollector::shard_live`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShardLive<'a> {
    pub requests: u64,
    pub lost: bool,
    pub(crate) send_lag_us: Option<(u64, u64)>,
    pub(crate) latest_sample: Option<&'a wire::TelemetrySample>,
}

/// See [`StageCollector::loss_facts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LossFacts {
    pub(crate) applied_snapshots: u64,
    pub(crate) first_missing_interval: u32,
    pub(crate) excluded_snapshots: u64,
    /// Requests counted from the applied snapshots.
    pub requests: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShardReport {
    pub requests: u64,
    /// Requests intended in the warm-up or cool-down (counted, not measured).
    pub(crate) outside_window: u64,
    pub ok: u64,
    pub(crate) started_unix_ns: i64,
    pub lost: bool,
    /// HTTP connections the shard's agent opened, requests it sent on reused ones, and
    /// requests it retried on a fresh one.
    pub(crate) conn_opened: u64,
    pub(crate) conn_reused: u64,
    pub retries: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetbench_model::measure::Measurements;

    fn snapshot(shard: u32, seq: u64, requests: u64) -> wire::Snapshot {
        let mut m = Measurements::new();
        m.counters.requests = requests;
        m.counters.ok = requests;
        let (histograms, counters) = m.to_wire();
        wire::Snapshot {
            run_id: "r".into(),
            stage: 0,
            shard,
            seq,
            interval: seq as u32,
            histograms,
            counters,
            ..Default::default()
        }
    }

    #[test]
    fn a_lost_shard_keeps_what_was_applied_and_excludes_what_comes_later() {
        let mut c = StageCollector::new(2);
        assert_eq!(c.apply(&snapshot(1, 0, 5)).unwrap(), Applied::New);
        assert_eq!(c.apply(&snapshot(1, 1, 4)).unwrap(), Applied::New);
        c.abandon(1);
        let late = snapshot(1, 2, 100);
        assert!(!c.is_new(&late), "nothing of a lost shard is stored as new");
        assert_eq!(c.apply(&late).unwrap(), Applied::Excluded);
        assert_eq!(
            c.apply(&late).unwrap(),
            Applied::Duplicate,
            "a resend is excluded once"
        );
        // A resend of an applied one stays a duplicate.
        assert_eq!(c.apply(&snapshot(1, 0, 5)).unwrap(), Applied::Duplicate);
        assert_eq!(c.merged.counters.requests, 9);
        let f = c.loss_facts(1).unwrap();
        assert_eq!(f.applied_snapshots, 2);
        assert_eq!(
            f.first_missing_interval, 2,
            "the lost window starts after interval 1"
        );
        assert_eq!(f.excluded_snapshots, 1);
        assert_eq!(f.requests, 9);
        // Its ShardDone after the loss changes nothing either.
        c.done(&wire::ShardDone {
            shard: 1,
            snapshots: 3,
            ..Default::default()
        });
        assert!(c.shard_reports()[1].lost);
        assert!(!c.complete(), "shard 0 has not finished");
        c.done(&wire::ShardDone {
            shard: 0,
            snapshots: 0,
            ..Default::default()
        });
        assert!(c.complete());
    }
}
