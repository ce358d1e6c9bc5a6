//! `load.sweep`: inference-perf's automatic saturation sweep across the fleet
//! (`docs/saturation.md`). Not the `sweep/` module, which sweeps deployments.
//!
//! The probe is stage 0 (`sweep-probe`), run like any stage, its shards keeping per-request
//! records. From the records' send and end times (each agent's clock mapped to ours by its
//! offset) the coordinator counts the requests in flight every 0.5 s from the probe's first
//! intended send until its timeout, takes the rate at which the count fell over each interval
//! where it fell, and the sweep's percentile of those rates as the saturation rate. The stages
//! generated from it are planned by `plan_sweep_stages` and run as normal stages 1..=n
//! (`run::run_sweep`). `saturation.json` in the run directory keeps the samples, the rates and
//! the stages.

use crate::store::StoreError;
use fleetbench_profile::{percentile, sweep_rates, SweepConfig};
use fleetbench_proto::v1 as wire;
use prost::Message;
use serde::Serialize;
use std::io::{BufReader, Read};
use std::path::Path;

/// Seconds between two in-flight samples (inference-perf's aggregator sleeps 0.5 s).
pub(crate) const SAMPLE_INTERVAL_S: f64 = 0.5;

/// The largest snapshot the log may hold (the control plane's message limit).
const MAX_SNAPSHOT_BYTES: usize = 64 << 20;

/// What `saturation.json` says (docs/saturation.md).
const DEFINITION: &str = "in_flight(t) = probe requests sent at or before t and not ended at t (t from the probe's first intended send, every 0.5 s while t < timeout); a burn-down rate = (in_flight(t - 0.5) - in_flight(t)) / 0.5 for each interval where the count fell; the saturation rate = the saturation_percentile of those rates (numpy's linear interpolation)";

/// One in-flight sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Sample {
    /// Seconds from the probe's first intended send.
    pub(crate) t_s: f64,
    /// Probe requests in flight at `t_s`, over the fleet.
    pub(crate) in_flight: u64,
}

/// One probe request, ns from the probe's first intended send in the coordinator's clock; an
/// end of `i64::MAX` when it never ended.
type Span = (i64, i64);

/// What the probe found, as `saturation.json` holds it.
#[derive(Debug, Serialize)]
pub(crate) struct Saturation {
    definition: &'static str,
    sweep: SweepConfig,
    /// Probe requests with a send time among the records.
    requests_sent: usize,
    sample_interval_s: f64,
    samples: Vec<Sample>,
    pub(crate) burn_down_rates: Vec<f64>,
    /// Requests/s; none when too few rates.
    pub(crate) saturation_rate: Option<f64>,
    /// The generated stages' rates, requests/s.
    pub(crate) stage_rates: Vec<f64>,
    /// Why no stages were generated.
    pub(crate) error: Option<String>,
}

impl Saturation {
    /// What the probe's report says of it (`metrics.metadata.saturation`): the rate, how it was
    /// found, the generated rates or why there are none; the samples stay in `saturation.json`.
    pub(crate) fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "saturation_rate": self.saturation_rate,
            "saturation_percentile": self.sweep.saturation_percentile,
            "burn_down_rates": self.burn_down_rates.len(),
            "requests_sent": self.requests_sent,
            "stage_rates": self.stage_rates,
            "error": self.error,
            "details": "saturation.json",
        })
    }
}

/// The in-flight count every [`SAMPLE_INTERVAL_S`] from 0 while t < `timeout_s`, up to one
/// sample after the last request ended.
pub(crate) fn in_flight_samples(spans: &[Span], timeout_s: f64) -> Vec<Sample> {
    let mut sends: Vec<i64> = spans.iter().map(|s| s.0).collect();
    let mut ends: Vec<i64> = spans.iter().map(|s| s.1).collect();
    sends.sort_unstable();
    ends.sort_unstable();
    let last_end = ends.iter().rev().find(|&&e| e != i64::MAX).copied();
    let last_s = last_end.map_or(timeout_s, |e| e as f64 / 1e9 + SAMPLE_INTERVAL_S);
    let mut out = Vec::new();
    for k in 0u32.. {
        let t_s = f64::from(k) * SAMPLE_INTERVAL_S;
        if t_s >= timeout_s || t_s > last_s {
            break;
        }
        let t = (t_s * 1e9) as i64;
        let sent = sends.partition_point(|&s| s <= t);
        let ended = ends.partition_point(|&e| e <= t);
        out.push(Sample {
            t_s,
            in_flight: sent.saturating_sub(ended) as u64,
        });
    }
    out
}

/// The rates at which the in-flight count fell, requests/s, one per interval where it fell.
pub(crate) fn burn_down_rates(samples: &[Sample]) -> Vec<f64> {
    samples
        .windows(2)
        .filter(|w| w[1].in_flight < w[0].in_flight)
        .map(|w| (w[0].in_flight - w[1].in_flight) as f64 / (w[1].t_s - w[0].t_s))
        .collect()
}

/// The saturation rate and the generated stages' rates from the probe's requests, with
/// everything it was computed from; the error says what to change (inference-perf's advice).
pub(crate) fn measure(
    spans: &[Span],
    sweep: &SweepConfig,
) -> (Saturation, Result<Vec<f64>, String>) {
    let samples = in_flight_samples(spans, sweep.timeout);
    let rates = burn_down_rates(&samples);
    let mut found = Saturation {
        definition: DEFINITION,
        sweep: sweep.clone(),
        requests_sent: spans.len(),
        sample_interval_s: SAMPLE_INTERVAL_S,
        samples,
        burn_down_rates: rates,
        saturation_rate: None,
        stage_rates: Vec::new(),
        error: None,
    };
    let result = (|| {
        if found.burn_down_rates.len() <= 1 {
            return Err(format!(
                "the saturation probe gave {} burn-down rate(s) from {} requests sent: not enough samples to determine saturation; try increasing load.sweep.num_requests or load.sweep.timeout",
                found.burn_down_rates.len(),
                spans.len()
            ));
        }
        let sat =
            percentile(&found.burn_down_rates, sweep.saturation_percentile).unwrap_or_default();
        found.saturation_rate = Some(sat);
        let stages = sweep_rates(sweep.kind, sat, sweep.num_stages);
        if let Some(r) = stages.iter().find(|&&r| r <= 0.0) {
            return Err(format!(
                "the saturation rate {sat} requests/s generates a stage rate of {r}: a rate must be > 0"
            ));
        }
        found.stage_rates = stages.clone();
        Ok(stages)
    })();
    found.error = result.as_ref().err().cloned();
    (found, result)
}

/// The probe's requests from its snapshot log: every record with a send time, mapped to our
/// clock by its shard's offset (`offsets[shard]`, agent − coordinator) and measured from the
/// earliest intended send. The log is read one snapshot at a time.
pub(crate) fn probe_spans(path: &Path, offsets: &[i64]) -> Result<Vec<Span>, StoreError> {
    let at = |source: std::io::Error| StoreError {
        path: path.to_path_buf(),
        source,
    };
    let bad = |m: String| at(std::io::Error::new(std::io::ErrorKind::InvalidData, m));
    let mut reader = BufReader::new(std::fs::File::open(path).map_err(at)?);
    let mut raw: Vec<(i64, i64, i64)> = Vec::new();
    while let Some(len) = read_varint(&mut reader).map_err(at)? {
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= MAX_SNAPSHOT_BYTES)
            .ok_or_else(|| bad(format!("a snapshot of {len} bytes")))?;
        let mut buf = vec![0u8; len];
        reader.read_exact(&mut buf).map_err(at)?;
        let s = wire::Snapshot::decode(buf.as_slice()).map_err(|e| bad(e.to_string()))?;
        let offset = offsets.get(s.shard as usize).copied().unwrap_or(0);
        for r in s.requests.iter().filter(|r| r.sent_unix_ns != 0) {
            let end = if r.end_unix_ns == 0 {
                i64::MAX
            } else {
                r.end_unix_ns - offset
            };
            raw.push((r.intended_unix_ns - offset, r.sent_unix_ns - offset, end));
        }
    }
    let origin = raw.iter().map(|r| r.0).min().unwrap_or(0);
    Ok(raw
        .into_iter()
        .map(|(_, sent, end)| {
            let end = if end == i64::MAX { end } else { end - origin };
            (sent - origin, end)
        })
        .collect())
}

/// A protobuf varint, or none at the end of the input.
fn read_varint(r: &mut impl Read) -> std::io::Result<Option<u64>> {
    let mut value = 0u64;
    for i in 0..10 {
        let mut byte = [0u8; 1];
        if r.read(&mut byte)? == 0 {
            return if i == 0 {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        value |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            return Ok(Some(value));
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "a varint longer than 10 bytes",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetbench_profile::SweepType;

    const S: i64 = 1_000_000_000;

    fn sweep(percentile: f64) -> SweepConfig {
        SweepConfig {
            kind: SweepType::Linear,
            num_requests: 10,
            timeout: 60.0,
            num_stages: 3,
            stage_duration: 2,
            saturation_percentile: percentile,
        }
    }

    #[test]
    fn in_flight_is_sent_and_not_ended_every_half_second() {
        // Four sent at 0, 0.1, 0.2, 0.3 s; ending at 0.7, 1.2, 1.3 s and never.
        let spans = [
            (0, 7 * S / 10),
            (S / 10, 12 * S / 10),
            (2 * S / 10, 13 * S / 10),
            (3 * S / 10, i64::MAX),
        ];
        let samples = in_flight_samples(&spans, 10.0);
        let counts: Vec<u64> = samples.iter().map(|s| s.in_flight).collect();
        // t = 0, 0.5, 1.0, 1.5 (one sample after the last end at 1.3 s).
        assert_eq!(counts, vec![1, 4, 3, 1]);
        assert_eq!(samples[3].t_s, 1.5);
        assert_eq!(burn_down_rates(&samples), vec![2.0, 4.0]);
        // The timeout cuts the samples.
        assert_eq!(in_flight_samples(&spans, 1.0).len(), 2);
    }

    #[test]
    fn the_saturation_rate_is_the_percentile_of_the_burn_down_rates() {
        // 20 sent at once, 5 ending every 0.5 s from 0.25 s on: the count falls 5 per 0.5 s.
        let spans: Vec<Span> = (0..20).map(|i| (0, (i / 5) * S / 2 + S / 4)).collect();
        let (found, result) = measure(&spans, &sweep(50.0));
        assert_eq!(found.burn_down_rates, vec![10.0; 4]);
        assert_eq!(found.saturation_rate, Some(10.0));
        assert_eq!(result.unwrap(), vec![1.0, 5.5, 10.0]);
        assert_eq!(found.stage_rates, vec![1.0, 5.5, 10.0]);
        // One fall only: inference-perf's advice.
        let (found, result) = measure(&[(0, S / 4)], &sweep(95.0));
        let err = result.unwrap_err();
        assert!(
            err.contains("not enough samples") && err.contains("load.sweep.num_requests"),
            "{err}"
        );
        assert_eq!(found.error.as_deref(), Some(err.as_str()));
        assert_eq!(found.saturation_rate, None);
    }

    #[test]
    fn the_probe_log_is_read_one_snapshot_at_a_time_and_mapped_to_our_clock() {
        let dir = std::env::temp_dir().join(format!("fb-saturation-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = crate::store::RunStore::create(dir.clone()).unwrap();
        let record = |intended: i64, sent: i64, end: i64| wire::RequestRecord {
            intended_unix_ns: intended,
            sent_unix_ns: sent,
            end_unix_ns: end,
            ..Default::default()
        };
        // Shard 1's clock runs 5 s ahead of ours (offset +5 s).
        for (shard, records) in [
            (0, vec![record(100 * S, 100 * S, 101 * S)]),
            (
                1,
                vec![record(105 * S, 105 * S + S / 2, 0), record(106 * S, 0, 0)],
            ),
        ] {
            store
                .append_snapshot(&wire::Snapshot {
                    stage: 0,
                    shard,
                    requests: records,
                    ..Default::default()
                })
                .unwrap();
        }
        let spans = probe_spans(&dir.join("snapshots/stage-0.pb"), &[0, 5 * S]).unwrap();
        // The never-sent record is left out; the unfinished one never ends.
        assert_eq!(spans, vec![(0, S), (S / 2, i64::MAX)]);
        std::fs::remove_dir_all(&dir).ok();
    }
}
