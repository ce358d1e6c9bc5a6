#!/usr/bin/env python3
"""inference-perf's Weka trace replay sessions, in the form the profile crate's Weka tests
compare against (`profile/src/data/weka/tests.rs`): per session its id and, per event, its id,
model, predecessors (indices), wait_ms, messages (role, content), input segments (type,
messages, tokens, source index), max_tokens and expected output. Run with the venv of
`make differential`, from the repository root:

    .venv-ip/bin/python scripts/ip_weka_sessions.py > tests/data/weka/inference_perf_sessions.golden

The traces are `tests/data/weka/traces/`, the tokenizer `tests/data/weka/tokenizer/`, the corpus
inference-perf's bundled one, idle gaps capped at 5 s, `load.base_seed` unset (42).
"""

import json
import logging
import sys

logging.disable(logging.CRITICAL)
from inference_perf.config import APIConfig, APIType, CustomTokenizerConfig, DataConfig  # noqa: E402
from inference_perf.config.datagen.config import DataGenType  # noqa: E402
from inference_perf.config.datagen.replay import WekaTraceReplayConfig  # noqa: E402
from inference_perf.datagen.replay.weka_trace_replay_datagen import WekaTraceReplayDataGenerator  # noqa: E402
from inference_perf.utils.custom_tokenizer import CustomTokenizer  # noqa: E402


def main():
    config = DataConfig(
        type=DataGenType.WekaTraceReplay,
        weka_trace_replay=WekaTraceReplayConfig(
            trace_directory="tests/data/weka/traces",
            trace_idle_gap_cap_seconds=5.0,
            use_static_model=True,
            static_model_name="m",
            datagen_workers=1,
        ),
    )
    tokenizer = CustomTokenizer(CustomTokenizerConfig(pretrained_model_name_or_path="tests/data/weka/tokenizer"))
    gen = WekaTraceReplayDataGenerator(APIConfig(type=APIType.Chat, streaming=True), config, tokenizer)
    out = []
    for s in gen.sessions:
        ids = list(s.graph.events.keys())
        events = []
        for eid, e in s.graph.events.items():
            events.append({
                "id": eid,
                "model": e.call.model,
                "preds": sorted(ids.index(p) for p in e.predecessor_event_ids),
                "wait_ms": e.wait_ms,
                "messages": [[m["role"], m["content"]] for m in e.call.messages],
                "segments": [[g.type, g.message_count, g.token_count,
                              None if g.source_event_id is None else ids.index(g.source_event_id)]
                             for g in e.call.input_segments],
                "max_tokens": e.call.expected_output_tokens,
                "expected_output": e.call.expected_output,
            })
        out.append({"session": s.session_id, "source": s.graph.source_file, "events": events})
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
