#!/usr/bin/env python3
"""inference-perf's replay graphs of OTel trace files, in the compact form the profile crate's
graph tests compare against (`profile/src/data/otel/golden_tests.rs`): per call its predecessors
(indices), wait_ms, input segments (type, messages, tokens, source index) and expected output
tokens. Run with the venv of `make differential`:

    .venv-ip/bin/python scripts/ip_otel_graphs.py tests/data/otel/*.json > tests/data/otel/inference_perf_graphs.golden
"""

import json
import logging
import pathlib
import sys

logging.disable(logging.CRITICAL)
from inference_perf.datagen.replay.otel_trace_to_replay_graph import build_graph, build_raw_calls  # noqa: E402


def compact(path):
    data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    calls, _ = build_raw_calls(data.get("spans") or [], include_errors=True)
    graph = build_graph(calls, source_file=str(path))
    ids = list(graph.events.keys())
    out = []
    for event in graph.events.values():
        out.append({
            "preds": sorted(ids.index(p) for p in event.predecessor_event_ids),
            "wait_ms": event.wait_ms,
            "segments": [[s.type, s.message_count, s.token_count,
                          None if s.source_event_id is None else ids.index(s.source_event_id)]
                         for s in event.call.input_segments],
            "max_tokens": event.call.expected_output_tokens,
        })
    return out


if __name__ == "__main__":
    print(json.dumps({pathlib.Path(p).name: compact(p) for p in sys.argv[1:]}, indent=1))
