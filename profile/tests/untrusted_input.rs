//! Properties of the code that reads untrusted input, `cargo fuzz`-style without nightly: the
//! snapshot decoder (HDR V2 histograms and counters from agents), the profile loader (YAML from
//! submitters) and the token parser never panic on any input, refuse what they cannot take,
//! and decode what an honest peer encodes exactly. Bounded case counts keep `make test` fast.

use fleetbench_model::measure::{new_histogram, Counters, Measurements};
use fleetbench_model::token::Tokens;
use fleetbench_profile::{env_names, parse_profile_env, EnvSource, Secrets};
use fleetbench_proto::v1 as wire;
use hdrhistogram::serialization::{Serializer, V2Serializer};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn snapshot(hist: Vec<u8>, counters: HashMap<String, u64>) -> wire::Snapshot {
    wire::Snapshot {
        histograms: [("ttft_us".to_string(), hist)].into(),
        counters,
        ..Default::default()
    }
}

/// A V2 header with the given fields, then `payload`.
fn v2(digits: u32, low: u64, high: u64, payload: &[u8], declared: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend((0x1c84_9303u32 | 0x10).to_be_bytes());
    h.extend(declared.to_be_bytes());
    h.extend(0u32.to_be_bytes());
    h.extend(digits.to_be_bytes());
    h.extend(low.to_be_bytes());
    h.extend(high.to_be_bytes());
    h.extend(1f64.to_bits().to_be_bytes());
    h.extend(payload);
    h
}

proptest! {
    #![proptest_config(config(256))]

    /// Any bytes as a histogram: an error or a merge, never a panic; on error nothing changes.
    #[test]
    fn arbitrary_histogram_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut m = Measurements::new();
        if m.add_snapshot(&snapshot(bytes, HashMap::new())).is_err() {
            prop_assert!(m.is_empty());
        }
    }

    /// Any header fields over any payload: refused or decoded, never a panic and never an
    /// allocation of what the header declares.
    #[test]
    fn arbitrary_headers_never_panic(
        digits in 0u32..8,
        low in prop_oneof![Just(0u64), Just(1u64), any::<u64>()],
        high in prop_oneof![Just(3_600_000_000u64), Just(u64::MAX), any::<u64>()],
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        declared in prop_oneof![Just(0u32), 0u32..80, any::<u32>()],
    ) {
        let mut m = Measurements::new();
        let _ = m.add_snapshot(&snapshot(v2(digits, low, high, &payload, declared), HashMap::new()));
    }

    /// What an honest agent encodes decodes to the same histogram.
    #[test]
    fn honest_histograms_round_trip(values in proptest::collection::vec((1u64..3_600_000_000, 1u64..1000), 0..50)) {
        let mut h = new_histogram();
        for &(v, n) in &values {
            h.record_n(v, n).unwrap();
        }
        let mut bytes = Vec::new();
        V2Serializer::new().serialize(&h, &mut bytes).unwrap();
        let mut m = Measurements::new();
        m.add_snapshot(&snapshot(bytes, HashMap::new())).unwrap();
        prop_assert_eq!(m.histogram(fleetbench_model::measure::Metric::Ttft), &h);
    }

    /// Counters near 2^64 saturate in a merge and are refused by a checked add.
    #[test]
    fn counters_never_overflow(a in any::<u64>(), b in any::<u64>()) {
        let x = Counters { requests: a, output_tokens: a, failures: [("x".into(), a)].into(), ..Default::default() };
        let y = Counters { requests: b, output_tokens: b, failures: [("x".into(), b)].into(), ..Default::default() };
        let mut merged = x.clone();
        merged.add(&y);
        prop_assert_eq!(merged.requests, a.saturating_add(b));
        prop_assert_eq!(x.checked_add(&y).is_some(), a.checked_add(b).is_some());
        let _ = merged.failed();
    }
}

/// YAML-ish text built from the profile's own vocabulary, so that cases reach past the parser.
fn profile_like() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("server"),
        Just("api"),
        Just("data"),
        Just("load"),
        Just("fleet"),
        Just("type"),
        Just("base_url"),
        Just("stages"),
        Just("rate"),
        Just("duration"),
        Just("headers"),
        Just("api_key"),
        Just("streaming"),
        Just("x"),
    ];
    let value = prop_oneof![
        Just("1".to_string()),
        Just("-1".to_string()),
        Just("1e308".to_string()),
        Just("inf".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("'http://127.0.0.1:1'".to_string()),
        Just("constant".to_string()),
        Just("[{rate: 1, duration: 1}]".to_string()),
        Just("REPLACE_ENV_P".to_string()),
        Just("&a [*a]".to_string()),
        "[a-z0-9:{}\\[\\],' ]{0,12}",
    ];
    proptest::collection::vec((key, value, 0usize..3), 0..12).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(k, v, indent)| format!("{}{k}: {v}\n", "  ".repeat(indent)))
            .collect()
    })
}

proptest! {
    #![proptest_config(config(128))]

    /// Any text is a profile or an error naming what is wrong: never a panic.
    #[test]
    fn arbitrary_profile_text_never_panics(text in "\\PC{0,300}") {
        let env = BTreeMap::new();
        let _ = parse_profile_env(&text, Path::new("p.yaml"), "p", &[], EnvSource::Sent(&env));
    }

    #[test]
    fn profile_shaped_text_never_panics(text in profile_like()) {
        let env: BTreeMap<String, String> = [("P".to_string(), "2".to_string())].into();
        let _ = parse_profile_env(&text, Path::new("p.yaml"), "p", &[], EnvSource::Sent(&env));
    }

    /// Placeholders are filled only from the values sent; every name found is asked for.
    #[test]
    fn placeholders_come_only_from_what_was_sent(names in proptest::collection::vec("[A-Z][A-Z0-9_]{0,6}", 1..4)) {
        let text: String = names.iter().map(|n| format!("k: REPLACE_ENV_{n}\n")).collect();
        let found = env_names(&text);
        for n in &names {
            prop_assert!(found.contains(n));
        }
        let none = BTreeMap::new();
        let e = parse_profile_env(&text, Path::new("p.yaml"), "p", &[], EnvSource::Sent(&none)).unwrap_err();
        prop_assert!(e.to_string().contains(&names[0]), "{}", e);
    }

    /// Redaction removes every secret, whatever surrounds it.
    #[test]
    fn redaction_leaves_no_secret(secret in "[A-Z0-9_-]{4,20}", before in "\\PC{0,30}", after in "\\PC{0,30}") {
        let mut s = Secrets::default();
        s.add(&secret);
        let out = s.redact(&format!("{before}{secret}{after}{secret}"));
        prop_assert!(!out.contains(&secret));
    }

    /// Token text: parsed or refused, never a panic.
    #[test]
    fn arbitrary_token_text_never_panics(text in "\\PC{0,120}") {
        let _ = Tokens::parse(&text, "t");
    }
}

/// A 4 MiB `[[[[...` is refused before the YAML parser sees it (whose memory grows with depth).
#[test]
fn deep_flow_nesting_is_refused_up_front() {
    let depth = 2 << 20;
    let text = format!("load: {}{}", "[".repeat(depth), "]".repeat(depth));
    let env = BTreeMap::new();
    let e =
        parse_profile_env(&text, Path::new("n.yaml"), "n", &[], EnvSource::Sent(&env)).unwrap_err();
    assert!(e.to_string().contains("nest deeper than"), "{e}");
    let quoted = format!("name: '{}'\nload: [[1]]", "[".repeat(100));
    let e = parse_profile_env(
        &quoted,
        Path::new("q.yaml"),
        "q",
        &[],
        EnvSource::Sent(&env),
    );
    assert!(e.is_err_and(|e| !e.to_string().contains("nest deeper than")));
}
