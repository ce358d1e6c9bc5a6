#!/usr/bin/env python3
"""inference-perf's replay graphs of OTel trace files, in the compact form the profile crate's
graph tests compare against (`profile/src/data/otel/golden_tests.rs`): per call its predecessors
(indices), wait_ms, input segments (type, messages, tokens, source index), and what its request
carries as inference-perf's replay builds it (`SessionChatCompletionAPIData.to_request_body`, with
`override_tool_call_max_tokens` and `tool_choice_mode: force_recorded`): `max_tokens`, `tools`,
`tool_choice`, and whether it asks to stop at the end of sequence although the load sends
`ignore_eos`. Run with the venv of `make differential`:

    .venv-ip/bin/python scripts/ip_otel_graphs.py tests/data/otel/*.json > tests/data/otel/inference_perf_graphs.golden
    .venv-ip/bin/python scripts/ip_otel_graphs.py tests/data/otel-tools/*.json > tests/data/otel-tools/inference_perf_graphs.golden
"""

import asyncio
import json
import logging
import pathlib
import sys

logging.disable(logging.CRITICAL)
from inference_perf.apis.chat import ChatMessage  # noqa: E402
from inference_perf.config.datagen.replay import ToolChoiceMode  # noqa: E402
from inference_perf.datagen.replay.otel_trace_to_replay_graph import build_graph, build_raw_calls  # noqa: E402
from inference_perf.datagen.replay.replay_graph_session_datagen import (  # noqa: E402
    EventOutputRegistry,
    SessionChatCompletionAPIData,
    WorkerSessionTracker,
)


def request(event):
    c = event.call
    data = SessionChatCompletionAPIData(
        messages=[ChatMessage(**m) for m in c.messages],
        max_tokens=c.expected_output_tokens,
        tool_definitions=c.tool_definitions,
        event_id=event.event_id,
        registry=EventOutputRegistry(),
        worker_tracker=WorkerSessionTracker(),
        completion_queue=None,
        total_events_in_session=1,
        expected_output_is_tool_call=c.expected_output_is_tool_call,
        expected_output_tool_names=c.expected_output_tool_names,
        override_tool_call_max_tokens=True,
        tool_choice_mode=ToolChoiceMode.FORCE_RECORDED,
    )
    return asyncio.run(data.to_request_body("model", c.expected_output_tokens, True, True))


def compact(path):
    data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    calls, _ = build_raw_calls(data.get("spans") or [], include_errors=True)
    graph = build_graph(calls, source_file=str(path))
    ids = list(graph.events.keys())
    out = []
    for event in graph.events.values():
        body = request(event)
        out.append({
            "preds": sorted(ids.index(p) for p in event.predecessor_event_ids),
            "wait_ms": event.wait_ms,
            "segments": [[s.type, s.message_count, s.token_count,
                          None if s.source_event_id is None else ids.index(s.source_event_id)]
                         for s in event.call.input_segments],
            "max_tokens": body["max_tokens"],
            "tools": body.get("tools"),
            "tool_choice": body.get("tool_choice"),
            "stops_at_eos": not body["ignore_eos"],
        })
    return out


if __name__ == "__main__":
    print(json.dumps({pathlib.Path(p).name: compact(p) for p in sys.argv[1:]}, indent=1))
