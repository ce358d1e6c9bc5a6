//! Every conversion between the model and the control plane's messages (`fleetbench-proto`):
//! a role, a snapshot's counters (a name → count map) and histograms (HDR V2 bytes per metric
//! name, decoded straight into the stage histograms by `measure/hdr_v2.rs`). The
//! `fleetbench_proto` types are named nowhere else in this crate.

use crate::measure::{hdr_v2, Counters, MeasureError, Measurements, Metric, HIGHEST, SIGFIG};
use crate::role::Role;
use fleetbench_proto::v1 as wire;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;

impl Role {
    /// The role in the control plane's messages.
    pub fn to_wire(self) -> wire::Role {
        match self {
            Role::Client => wire::Role::Client,
            Role::Prefill => wire::Role::Prefill,
            Role::Decode => wire::Role::Decode,
            Role::Other => wire::Role::Other,
        }
    }

    /// The role of a message; `None` when it is unspecified.
    pub fn from_wire(r: wire::Role) -> Option<Role> {
        match r {
            wire::Role::Client => Some(Role::Client),
            wire::Role::Prefill => Some(Role::Prefill),
            wire::Role::Decode => Some(Role::Decode),
            wire::Role::Other => Some(Role::Other),
            wire::Role::Unspecified => None,
        }
    }
}

impl Counters {
    /// The snapshot's counter map: one key per field, `failure.<class>` per failure class.
    pub(crate) fn to_wire(&self) -> std::collections::HashMap<String, u64> {
        let mut m: std::collections::HashMap<String, u64> = [
            ("requests", self.requests),
            ("ok", self.ok),
            ("incomplete", self.incomplete),
            ("input_tokens", self.input_tokens),
            ("output_tokens", self.output_tokens),
            ("tokens_from_usage", self.tokens_from_usage),
            ("tokens_from_chunks", self.tokens_from_chunks),
            ("tokens_from_tokenizer", self.tokens_from_tokenizer),
            ("held_back", self.held_back),
            ("outside_window", self.outside_window),
            ("conn_opened", self.conn_opened),
            ("conn_reused", self.conn_reused),
            ("retries", self.retries),
            ("conn_server_closed", self.conn_server_closed),
            ("conn_idle_closed", self.conn_idle_closed),
            ("cache_reported", self.cache_reported),
            ("cached_tokens", self.cached_tokens),
            ("cache_prompt_tokens", self.cache_prompt_tokens),
            ("good", self.good),
            ("good_tokens", self.good_tokens),
            ("request_retries", self.request_retries),
            ("retried_requests", self.retried_requests),
            ("retries_recovered", self.retries_recovered),
            ("images", self.images),
            ("videos", self.videos),
            ("audios", self.audios),
            ("sessions_ok", self.sessions_ok),
            ("sessions_failed", self.sessions_failed),
            ("calls_not_sent", self.calls_not_sent),
            ("recorded_substitutions", self.recorded_substitutions),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in &self.failures {
            m.insert(format!("failure.{k}"), *v);
        }
        m
    }

    /// Counters from a snapshot's map (unknown keys ignored).
    pub fn from_wire(m: &std::collections::HashMap<String, u64>) -> Counters {
        let mut c = Counters::default();
        for (k, &v) in m {
            match k.as_str() {
                "requests" => c.requests = v,
                "ok" => c.ok = v,
                "incomplete" => c.incomplete = v,
                "input_tokens" => c.input_tokens = v,
                "output_tokens" => c.output_tokens = v,
                "tokens_from_usage" => c.tokens_from_usage = v,
                "tokens_from_chunks" => c.tokens_from_chunks = v,
                "tokens_from_tokenizer" => c.tokens_from_tokenizer = v,
                "held_back" => c.held_back = v,
                "outside_window" => c.outside_window = v,
                "conn_opened" => c.conn_opened = v,
                "conn_reused" => c.conn_reused = v,
                "retries" => c.retries = v,
                "conn_server_closed" => c.conn_server_closed = v,
                "conn_idle_closed" => c.conn_idle_closed = v,
                "cache_reported" => c.cache_reported = v,
                "cached_tokens" => c.cached_tokens = v,
                "cache_prompt_tokens" => c.cache_prompt_tokens = v,
                "good" => c.good = v,
                "good_tokens" => c.good_tokens = v,
                "request_retries" => c.request_retries = v,
                "retried_requests" => c.retried_requests = v,
                "retries_recovered" => c.retries_recovered = v,
                "images" => c.images = v,
                "videos" => c.videos = v,
                "audios" => c.audios = v,
                "sessions_ok" => c.sessions_ok = v,
                "sessions_failed" => c.sessions_failed = v,
                "calls_not_sent" => c.calls_not_sent = v,
                "recorded_substitutions" => c.recorded_substitutions = v,
                other => {
                    if let Some(class) = other.strip_prefix("failure.") {
                        c.failures.insert(class.to_string(), v);
                    }
                }
            }
        }
        c
    }
}

impl Measurements {
    /// The snapshot fields: V2-serialized histograms (empty ones left out) and counters.
    pub fn to_wire(
        &self,
    ) -> (
        std::collections::HashMap<String, Vec<u8>>,
        std::collections::HashMap<String, u64>,
    ) {
        let mut hists = std::collections::HashMap::new();
        let mut ser = V2Serializer::new();
        for m in Metric::ALL {
            let Some(h) = self.hist[m as usize].as_deref() else {
                continue;
            };
            if h.is_empty() {
                continue;
            }
            let mut buf = Vec::new();
            // Serializing into a Vec cannot fail for a histogram of this size.
            if ser.serialize(h, &mut buf).is_ok() {
                hists.insert(m.name().to_string(), buf);
            }
        }
        (hists, self.counters.to_wire())
    }

    /// Measurements from a snapshot's histograms and counters.
    pub fn from_wire(
        hists: &std::collections::HashMap<String, Vec<u8>>,
        counters: &std::collections::HashMap<String, u64>,
    ) -> Result<Measurements, MeasureError> {
        let mut out = Measurements::new();
        out.add_wire(hists, counters)?;
        Ok(out)
    }

    /// Checks every histogram of a snapshot (known name, a header no larger than a stage
    /// histogram) without decoding a payload or allocating for it.
    pub fn check_wire(
        hists: &std::collections::HashMap<String, Vec<u8>>,
    ) -> Result<(), MeasureError> {
        for (name, bytes) in hists {
            Metric::from_name(name).ok_or_else(|| MeasureError::Unknown(name.clone()))?;
            hdr_v2::check_header(bytes, HIGHEST, SIGFIG).map_err(|message| {
                MeasureError::Decode {
                    name: name.clone(),
                    message,
                }
            })?;
        }
        Ok(())
    }

    /// The `quantiles` of one metric's histogram as a snapshot carries it (`bytes`), without
    /// building a full `Measurements`: the decoded counts go into one histogram bounded by the
    /// largest value (the bucket layout depends only on the lowest value and the digits, so the
    /// quantiles are those of the full-range histogram). `None` for an empty or undecodable one.
    pub fn wire_quantiles(bytes: &[u8], quantiles: &[f64]) -> Option<Vec<u64>> {
        hdr_v2::check_header(bytes, HIGHEST, SIGFIG).ok()?;
        let h = match hdr_v2::decode_v2(bytes, SIGFIG) {
            Some(values) => {
                let values = values.ok()?;
                let top = values.iter().map(|&(v, _)| v).max()?;
                let mut h = Histogram::<u64>::new_with_bounds(1, top.max(2), SIGFIG).ok()?;
                hdr_v2::add_values(&mut h, &values);
                h
            }
            None => Deserializer::new().deserialize(&mut &bytes[..]).ok()?,
        };
        (!h.is_empty()).then(|| quantiles.iter().map(|&q| h.value_at_quantile(q)).collect())
    }

    /// Adds a snapshot's contents directly, without building a full `Measurements` for it (a
    /// decoded histogram is only as large as its values need). Nothing is added on error.
    pub fn add_snapshot(&mut self, s: &wire::Snapshot) -> Result<(), MeasureError> {
        self.add_wire(&s.histograms, &s.counters)
    }

    fn add_wire(
        &mut self,
        hists: &std::collections::HashMap<String, Vec<u8>>,
        counters: &std::collections::HashMap<String, u64>,
    ) -> Result<(), MeasureError> {
        enum Decoded {
            Values(Vec<(u64, u64)>),
            Histogram(Histogram<u64>),
        }
        // Decode everything first: a bad snapshot changes nothing.
        let mut de = Deserializer::new();
        let mut decoded = Vec::with_capacity(hists.len());
        for (name, bytes) in hists {
            let m = Metric::from_name(name).ok_or_else(|| MeasureError::Unknown(name.clone()))?;
            let bad = |message: String| MeasureError::Decode {
                name: name.clone(),
                message,
            };
            hdr_v2::check_header(bytes, HIGHEST, SIGFIG).map_err(bad)?;
            let d = match hdr_v2::decode_v2(bytes, SIGFIG) {
                Some(values) => Decoded::Values(values.map_err(bad)?),
                None => Decoded::Histogram(
                    de.deserialize(&mut bytes.as_slice())
                        .map_err(|e| bad(format!("{e:?}")))?,
                ),
            };
            decoded.push((m, d));
        }
        for (m, d) in decoded {
            let target = self.histogram_mut(m);
            match d {
                Decoded::Values(v) => hdr_v2::add_values(target, &v),
                Decoded::Histogram(h) => target.add(&h).map_err(|e| MeasureError::Merge {
                    name: m.name().into(),
                    message: format!("{e:?}"),
                })?,
            }
        }
        self.counters.add(&Counters::from_wire(counters));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_quantiles_equal_the_full_histograms() {
        let mut m = Measurements::new();
        for i in 0..5_000u64 {
            m.record(Metric::SendLag, (i * 7919) % 300_000 + 1);
        }
        let (hists, _) = m.to_wire();
        let bytes = &hists[Metric::SendLag.name()];
        let full = m.histogram(Metric::SendLag);
        let got = Measurements::wire_quantiles(bytes, &[0.0, 0.5, 0.99, 1.0]).unwrap();
        let want: Vec<u64> = [0.0, 0.5, 0.99, 1.0]
            .iter()
            .map(|&q| full.value_at_quantile(q))
            .collect();
        assert_eq!(got, want);
        let (empty, _) = Measurements::new().to_wire();
        if let Some(b) = empty.get(Metric::SendLag.name()) {
            assert_eq!(Measurements::wire_quantiles(b, &[0.5]), None);
        }
        assert_eq!(Measurements::wire_quantiles(b"not hdr", &[0.5]), None);
    }

    #[test]
    fn merging_shards_equals_histogram_of_all_values() {
        let values: Vec<u64> = (0..10_000u64).map(|i| (i * 7919) % 2_000_000 + 1).collect();
        let mut all = Measurements::new();
        let mut shards = [
            Measurements::new(),
            Measurements::new(),
            Measurements::new(),
        ];
        for (i, &v) in values.iter().enumerate() {
            all.record(Metric::Ttft, v);
            shards[i % 3].record(Metric::Ttft, v);
        }
        // Through the wire and back, as the coordinator sees them.
        let mut merged = Measurements::new();
        for s in &shards {
            let (h, c) = s.to_wire();
            merged
                .add(&Measurements::from_wire(&h, &c).unwrap())
                .unwrap();
        }
        let (a, b) = (all.histogram(Metric::Ttft), merged.histogram(Metric::Ttft));
        assert_eq!(a.len(), b.len());
        for q in [0.0, 0.001, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(a.value_at_quantile(q), b.value_at_quantile(q), "q={q}");
        }
        assert_eq!(a.mean(), b.mean());
        assert_eq!(a, b);
    }

    #[test]
    fn counters_round_trip_with_failure_classes() {
        let mut m = Measurements::new();
        m.counters.requests = 5;
        m.counters.ok = 3;
        m.counters.failures.insert("http_500".into(), 2);
        let (h, c) = m.to_wire();
        let back = Measurements::from_wire(&h, &c).unwrap();
        assert_eq!(back.counters, m.counters);
        assert_eq!(back.counters.failed(), 2);
    }

    #[test]
    fn garbage_histogram_bytes_are_an_error_not_a_panic() {
        let mut h = std::collections::HashMap::new();
        h.insert("ttft_us".to_string(), vec![1, 2, 3]);
        assert!(Measurements::from_wire(&h, &Default::default()).is_err());
        let mut h = std::collections::HashMap::new();
        h.insert("bogus".to_string(), vec![]);
        assert!(Measurements::from_wire(&h, &Default::default()).is_err());
    }
}
