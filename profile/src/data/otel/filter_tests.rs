//! `otel_trace_replay.filter`: the expressions inference-perf's filters are written in, with
//! Python's meaning; names and calls beyond them refused; the records as inference-perf's
//! loader normalizes a trace file; and the filter choosing among real trace files.

use super::filter::{normalized, RowFilter};
use super::read_sessions_with;
use crate::data::hub::HubEnv;
use crate::otel::OtelTraceReplayConfig;
use serde_json::{json, Value};
use std::path::Path;

fn keep(filter: &str, row: &Value) -> Result<bool, String> {
    RowFilter::parse(filter).unwrap().keep(row)
}

#[test]
fn the_filters_of_inference_perf_s_configs_and_docs_select_as_python_does() {
    let small = json!({"max_tokens": 1000, "benchmark": "gsm8k", "spans": [1, 2, 3]});
    let big = json!({"max_tokens": 30000, "benchmark": "tau2_retail", "spans": [1]});
    let bare = json!({"benchmark": "b", "spans": []});
    for (f, want) in [
        (
            "lambda x: x.get('max_tokens', 0) < 28000",
            [true, false, true],
        ),
        (
            "lambda x: x['benchmark'] == 'gsm8k' and len(x['spans']) >= 3",
            [true, false, false],
        ),
        (
            "lambda x: x.get('max_tokens', 0) < 40960 and len(x.get('spans', [])) < 20",
            [true, true, true],
        ),
        (
            "lambda x: x.get('benchmark') in ['gsm8k', 'other']",
            [true, false, false],
        ),
        (
            "lambda x: not x.get('benchmark', '').startswith('tau')",
            [true, false, true],
        ),
        (
            "lambda x: 500 < x.get('max_tokens', 0) <= 30000",
            [true, true, false],
        ),
        (
            "lambda row: row.get('max_tokens') is None",
            [false, false, true],
        ),
        ("lambda x: x.get('max_tokens') or 0", [true, true, false]),
    ] {
        for (row, want) in [&small, &big, &bare].into_iter().zip(want) {
            assert_eq!(keep(f, row), Ok(want), "{f} on {row}");
        }
    }
    assert_eq!(keep("lambda x: x['spans'][-1] + 1 == 4", &small), Ok(true));
    assert_eq!(keep("lambda x: 'gsm' in x['benchmark']", &small), Ok(true));
    assert_eq!(
        keep("lambda x: x['benchmark'].upper() == \"GSM8K\"", &small),
        Ok(true)
    );
}

#[test]
fn python_s_errors_name_the_key_or_the_types() {
    let row = json!({"benchmark": "gsm8k", "n": 3});
    let e = keep("lambda x: x['missing'] > 1", &row).unwrap_err();
    assert!(e.contains("KeyError") && e.contains("missing"), "{e}");
    let e = keep("lambda x: x['benchmark'] < 3", &row).unwrap_err();
    assert!(e.contains("TypeError") && e.contains("str"), "{e}");
    let e = keep("lambda x: len(x['n']) > 1", &row).unwrap_err();
    assert!(e.contains("len()"), "{e}");
}

#[test]
fn code_beyond_a_record_s_expression_is_refused_when_parsed() {
    for (f, names) in [
        ("lambda x: __import__('os').system('id')", "__import__"),
        ("lambda x: open('/etc/passwd')", "open"),
        ("lambda x: y['a'] == 1", "`y`"),
        ("lambda x: x.__class__", "__class__"),
        ("lambda x: x['a'] = 1", "`=`"),
        ("lambda x: [i for i in x]", "for"),
        ("x['a'] == 1", "lambda"),
        ("lambda x: x['a", "does not end"),
    ] {
        let e = RowFilter::parse(f).unwrap_err();
        assert!(e.contains(names), "{f}: {e}");
    }
    let deep = format!("lambda x: {}1{}", "(".repeat(100), ")".repeat(100));
    assert!(RowFilter::parse(&deep).unwrap_err().contains("nested"));
    assert!(
        RowFilter::parse(&format!("lambda x: {}", "1 + ".repeat(2000)))
            .unwrap_err()
            .contains("longer")
    );
}

#[test]
fn a_trace_file_s_record_is_normalized_as_inference_perf_s_loader_does() {
    let trace = json!({"trace_id": "t1", "spans": [
        {"attributes": {"gen_ai.request.model": "m1", "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5}},
        {"attributes": {"gen_ai.request.model": "m1", "gen_ai.usage.input_tokens": 20}},
        {"attributes": {"gen_ai.request.model": "m2"}},
    ]});
    let r = normalized(&trace, "file", "dir/file.json");
    assert_eq!(r["session_id"], "t1");
    assert_eq!(r["source_id"], "dir/file.json");
    assert_eq!(
        (&r["harness"], &r["benchmark"]),
        (&json!("unknown"), &json!("unknown"))
    );
    assert_eq!(r["models"], json!(["m1", "m2"]));
    assert_eq!(
        (&r["max_tokens"], &r["total_tokens"]),
        (&json!(20), &json!(35))
    );
    let r = normalized(&json!({"spans": [], "max_tokens": 7}), "stem", "p");
    assert_eq!(
        (&r["session_id"], &r["max_tokens"], &r["total_tokens"]),
        (&json!("stem"), &json!(7), &json!(0))
    );
}

#[test]
fn the_filter_chooses_among_the_trace_files_and_a_failing_one_ends_the_read() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let hub = HubEnv {
        cache: "/nonexistent".into(),
        endpoint: "http://127.0.0.1:9".into(),
        token: None,
        offline: true,
    };
    let read = |filter: &str| {
        let c: OtelTraceReplayConfig = serde_norway::from_str(&format!(
            "{{trace_directory: tests/data/otel, filter: \"{filter}\"}}"
        ))
        .unwrap();
        read_sessions_with(&c, &root.join("profile.yaml"), None, &hub)
    };
    // chain.json has 4 spans, fanout.json 5: only the fan-out is kept.
    let s = read("lambda x: len(x['spans']) > 4").unwrap();
    assert_eq!(s.graphs.len(), 1);
    assert!(
        s.graphs[0].source.ends_with("fanout.json"),
        "{}",
        s.graphs[0].source
    );
    let e = read("lambda x: len(x['spans']) > 9").unwrap_err();
    assert!(
        e.message.contains("No valid replay sessions"),
        "{}",
        e.message
    );
    let e = read("lambda x: x['nope']").unwrap_err();
    assert!(
        e.message.contains("KeyError") && e.message.contains("chain.json"),
        "{}",
        e.message
    );
}
