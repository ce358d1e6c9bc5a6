#!/usr/bin/env python3
"""The differential test against inference-perf's own loader (`make differential`).

Every fixture of tests/data/inference-perf/ is loaded by inference-perf (`read_config`, the
package from PyPI) and by `coordinator validate --json`:
- accept/: both accept it, with the same meaning: load type, stages (rate, duration,
  concurrency, requests), the wait between stages, the data source and its lengths;
- reject/: both refuse it (fleetbench for what is wrong, not as a key it does not support);
- unsupported/: inference-perf accepts it and fleetbench refuses it saying "does not support yet"
  and why (combinations without meaning in fleetbench, listed in docs/profile.md).
Exits 1 naming every fixture where they disagree.

Usage: ip_differential.py COORDINATOR_BINARY [FIXTURE_DIR]
"""

import json
import logging
import os
import pathlib
import subprocess
import sys

logging.disable(logging.CRITICAL)
from inference_perf.config import read_config  # noqa: E402


def inference_perf(path):
    try:
        return read_config(str(path)), None
    except BaseException as e:  # pydantic's ValidationError, ValueError, YAML errors
        return None, str(e).splitlines()[0]


def fleetbench(binary, path):
    # A dataset of hf_dataset_path comes from the fixtures' Hub cache, never the network.
    env = dict(os.environ, RUST_BACKTRACE="0", RUST_LOG="warn", HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(HF_CACHE))
    p = subprocess.run(
        [binary, "validate", "--json", str(path)], capture_output=True, text=True, timeout=120, env=env
    )
    if p.returncode != 0:
        lines = p.stderr.strip().splitlines() or ["(no message)"]
        return None, next((line for line in lines if line.startswith("Error")), lines[-1])
    return json.loads(p.stdout), None


def close(a, b):
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))


def check_dist(where, given, spec, problems):
    """inference-perf's distribution, its defaults filled in (min 10, max 1024, mean 512, std_dev
    200, type normal; std_dev from a variance), must be fleetbench's length spec: fixed is
    int(mean) whatever min and max say; the others are clamped to [max(min, 1), max]."""
    if given is None:
        return
    kind = getattr(given.type, "value", given.type)
    if kind != spec["dist"]:
        return problems.append(f"{where}: type {kind} vs {spec['dist']}")
    if kind == "fixed":
        if not close(int(given.mean), spec["mean"]):
            problems.append(f"{where}: fixed {int(given.mean)} vs {spec['mean']}")
        return
    lo = max(given.min, 1)
    if (lo, max(given.max, lo)) != (spec["min"], spec["max"]):
        problems.append(f"{where}: [min, max] [{given.min}, {given.max}] vs [{spec['min']}, {spec['max']}]")
    if kind != "uniform" and not close(given.mean, spec["mean"]):
        problems.append(f"{where}: mean {given.mean} vs {spec['mean']}")
    if kind in ("normal", "lognormal", "skew_normal") and not close(given.std_dev, spec["std_dev"]):
        problems.append(f"{where}: std_dev {given.std_dev} vs {spec['std_dev']}")
    if kind == "skew_normal" and not close(given.skew, spec.get("skew", 0.0)):
        problems.append(f"{where}: skew {given.skew} vs {spec.get('skew', 0.0)}")


def check_sharegpt(cfg, source, problems):
    """shareGPT: on the completion API only conversations whose prompt and answer lengths lie in
    [min, max] of input_distribution and output_distribution (inference-perf's filter)."""
    if source["kind"] != "prompts":
        return problems.append(f"shareGPT: source {source['kind']}")
    if cfg.api.type.value != "completion":
        return
    for name, key, dist in (("input", "input_tokens", cfg.data.input_distribution),
                            ("output", "output_tokens", cfg.data.output_distribution)):
        if dist is None:
            continue
        for e in source["prompts"]:
            n = e.get(key, len(e["prompt"].split()))
            if not dist.min <= n <= dist.max:
                problems.append(f"shareGPT: a prompt with {n} {name} tokens outside [{dist.min}, {dist.max}]")
                break


TEXT_DATASETS = ("cnn_dailymail", "billsum_conversations", "infinity_instruct")


def text_dataset_requests(cfg):
    """The distinct requests inference-perf's generator makes of a text dataset's rows, each as
    (prompt, max_tokens) on the completion API or (messages, max_tokens) on the chat API, with
    its client's default of 30 where the request names none. Read until every row was seen
    three times (cnn_dailymail cycles, billsum_conversations restarts, infinity_instruct ends)."""
    from inference_perf.datagen import (
        BillsumConversationsDataGenerator,
        CNNDailyMailDataGenerator,
        InfinityInstructDataGenerator,
    )
    from inference_perf.utils.custom_tokenizer import CustomTokenizer

    generator = {
        "cnn_dailymail": CNNDailyMailDataGenerator,
        "billsum_conversations": BillsumConversationsDataGenerator,
        "infinity_instruct": InfinityInstructDataGenerator,
    }[cfg.data.type.value](cfg.api, cfg.data, CustomTokenizer(cfg.tokenizer))
    rows = pathlib.Path(cfg.data.path).read_text(encoding="utf-8")
    n = len(json.loads(rows)) if rows.lstrip().startswith("[") else len(rows.splitlines())
    out = set()
    try:
        for i, r in enumerate(generator.get_data()):
            if i >= 3 * n:
                break
            if cfg.api.type.value == "chat":
                out.add((tuple((m.role, m.content) for m in r.messages), r.max_tokens or 30))
            else:
                out.add((r.prompt, r.max_tokens or 30))
    except RuntimeError:  # a generator that ran out of rows (StopIteration inside it)
        pass
    return out


def check_text_dataset(cfg, source, problems):
    """cnn_dailymail, billsum_conversations, infinity_instruct: the requests are those
    inference-perf's own generator makes of the file. inference-perf never sends the first row
    of an infinity_instruct file (its generator drops it when it starts); fleetbench does."""
    kind = cfg.data.type.value
    if source["kind"] != "prompts":
        return problems.append(f"{kind}: source {source['kind']}")
    chat = cfg.api.type.value == "chat"
    ours = {
        (tuple(tuple(m) for m in e["messages"]) if chat else e["prompt"], e["output_tokens"])
        for e in source["prompts"]
    }
    theirs = text_dataset_requests(cfg)
    extra, missing = ours - theirs, theirs - ours
    if missing or len(extra) > (1 if kind == "infinity_instruct" else 0):
        problems.append(f"{kind}: fleetbench's requests less inference-perf's {sorted(extra)}; "
                        f"inference-perf's less fleetbench's {sorted(missing)}")


def fixed_or(length, legacy):
    """inference-perf's resolution of a shared-prefix length: legacy distribution, else inline."""
    if legacy is not None:
        return legacy
    return length


def check_shared_prefix(sp, source, problems):
    if sp.enable_multi_turn_chat:
        if source["kind"] != "multi_turn":
            return problems.append(f"multi-turn chat: source {source['kind']}")
        pairs = [("num_groups", "users"), ("num_prompts_per_group", "rounds")]
        lengths = [("question_len", "question_distribution", "question"),
                   ("output_len", "output_distribution", "answer")]
    else:
        if source["kind"] != "shared_prefix":
            return problems.append(f"shared prefix: source {source['kind']}")
        pairs = [("num_groups", "num_groups"), ("num_prompts_per_group", "prompts_per_group")]
        lengths = [("question_len", "question_distribution", "question"),
                   ("output_len", "output_distribution", "output")]
    for ours_ip, ours in pairs:
        if getattr(sp, ours_ip) != source[ours]:
            problems.append(f"shared_prefix.{ours_ip}: {getattr(sp, ours_ip)} vs {source[ours]}")
    if sp.seed is not None and sp.seed != source["seed"]:
        problems.append(f"shared_prefix.seed: {sp.seed} vs {source['seed']}")
    sys_len = sp.system_prompt_len
    if isinstance(sys_len, int):
        if sys_len != source["system_prompt_len"]:
            problems.append(f"system_prompt_len {sys_len} vs {source['system_prompt_len']}")
    else:
        check_dist("system_prompt_len", sys_len, source.get("system_prompt") or {}, problems)
    for name, legacy, key in lengths:
        value = fixed_or(getattr(sp, name), getattr(sp, legacy))
        spec = source[key]
        if isinstance(value, int):
            if spec["dist"] != "fixed" or not close(value, spec["mean"]):
                problems.append(f"shared_prefix.{name}: {value} vs {spec}")
        else:
            check_dist(f"shared_prefix.{name}", value, spec, problems)


def in_dist(value, dist, default):
    """Whether a value drawn by fleetbench is one inference-perf's distribution can give:
    int(mean) when fixed, else within [min, max] (the default when none is given)."""
    if dist is None:
        return value == default
    if getattr(dist.type, "value", dist.type) == "fixed":
        return value == int(dist.mean)
    return dist.min <= value <= dist.max


def check_conversations(cr, source, problems):
    """conversation_replay: the seed, counts and lengths inference-perf's generator would draw
    from (its defaults: 10 turns, 512 input, 256 output tokens, 225000 max_model_len)."""
    if source["kind"] != "conversations":
        return problems.append(f"conversation_replay: source {source['kind']}")
    convs = source["conversations"]
    for name, theirs, ours in (("seed", cr.seed, source["seed"]),
                               ("num_conversations", cr.num_conversations, len(convs)),
                               ("shared_system_prompt_len", cr.shared_system_prompt_len,
                                source["shared_system_prompt_len"]),
                               ("max_model_len", cr.max_model_len or 225000, source["max_model_len"])):
        if theirs != ours:
            problems.append(f"conversation_replay.{name}: {theirs} vs {ours}")
    for c in convs:
        checks = [("turns_per_conversation", len(c["turns"]), cr.turns_per_conversation, 10),
                  ("dynamic_system_prompt_len", c["dynamic_system_prompt_len"], cr.dynamic_system_prompt_len, 0)]
        for t in c["turns"]:
            checks += [("input_tokens_per_turn", t["i"], cr.input_tokens_per_turn, 512),
                       ("output_tokens_per_turn", t["o"], cr.output_tokens_per_turn, 256),
                       ("tool_call_latency_sec", t.get("w", 0), cr.tool_call_latency_sec, 0)]
        for name, value, dist, default in checks:
            if not in_dist(value, dist, default):
                return problems.append(f"conversation_replay.{name}: drew {value}, outside {dist}")


PRESETS = {"4k": (3840, 2160), "1080p": (1920, 1080), "720p": (1280, 720), "360p": (640, 360)}


def wh(res):
    """(width, height) of inference-perf's resolution: a preset or {height, width}."""
    value = getattr(res, "value", None)
    if value is not None:
        return PRESETS[value]
    return (res.width, res.height)


def check_modality(where, given, ours, sizes, problems):
    """One modality: its count distribution (none: no item), its insertion point (none:
    uniform; a float; a distribution) and its weighted sizes."""
    if given.count is None:
        if ours["count"] is not None:
            problems.append(f"{where}.count: none vs {ours['count']}")
    elif ours["count"] is None:
        problems.append(f"{where}.count: {given.count} vs none")
    elif getattr(given.count.type, "value", given.count.type) == "fixed":
        if int(given.count.mean) != ours["count"]["mean"]:
            problems.append(f"{where}.count: {int(given.count.mean)} vs {ours['count']}")
    elif (given.count.min, given.count.max) != (ours["count"]["min"], ours["count"]["max"]):
        problems.append(f"{where}.count: [{given.count.min}, {given.count.max}] vs {ours['count']}")
    point, at = given.insertion_point, ours["insertion"]
    if point is None and at != "uniform":
        problems.append(f"{where}.insertion_point: uniform vs {at}")
    elif isinstance(point, (int, float)) and not (isinstance(at, dict) and close(point, at.get("at", -1))):
        problems.append(f"{where}.insertion_point: {point} vs {at}")
    elif point is not None and not isinstance(point, (int, float)) and not (isinstance(at, dict) and "drawn" in at):
        problems.append(f"{where}.insertion_point: {point} vs {at}")
    got = [(s["value"], s["weight"]) for s in ours["sizes"]]
    if len(got) != len(sizes) or any(a != b or not close(w, v) for (a, w), (b, v) in zip(sizes, got)):
        problems.append(f"{where} sizes: {sizes} vs {got}")


def check_media(where, mm, media, problems):
    """A multimodal section: each modality with its sizes, image and frame encodings."""
    media = media or {}
    for name in ("image", "video", "audio"):
        given = getattr(mm, name)
        if (given is None) != (media.get(name) is None):
            problems.append(f"{where}.{name}: {given} vs {media.get(name)}")
            continue
        if given is None:
            continue
        if name == "image":
            ours, encoding = media[name]
            r = given.resolutions
            sizes = []
            for x in r if isinstance(r, list) else ([] if r is None else [r]):
                res, wt = (x.resolution, x.weight) if hasattr(x, "resolution") else (x, 1.0)
                w, h = wh(res)
                sizes.append(({"width": w, "height": h}, wt))
            if encoding != given.representation.value:
                problems.append(f"{where}.image.representation: {given.representation.value} vs {encoding}")
        elif name == "video":
            ours, encoding = media[name]
            profiles = given.profiles
            plist = profiles if isinstance(profiles, list) else ([] if profiles is None else [profiles])
            sizes = []
            for p in plist:
                prof, wt = (p.profile, p.weight) if hasattr(p, "profile") else (p, 1.0)
                w, h = wh(prof.resolution)
                sizes.append(({"resolution": {"width": w, "height": h}, "frames": prof.frames}, wt))
            want = {"png_frames": "png", "jpeg_frames": "jpeg", "mp4": "mp4"}.get(given.representation.value)
            if encoding != want:
                problems.append(f"{where}.video.representation: {given.representation.value} vs {encoding}")
        else:
            ours = media[name]
            d = given.durations
            sizes = [(x.duration, x.weight) for x in d] if isinstance(d, list) else ([] if d is None else [(float(d), 1.0)])
        check_modality(f"{where}.{name}", given, ours, sizes, problems)


def otel_files(c):
    """The trace files inference-perf's OTel generator reads (relative to the working
    directory): a directory's *.json, or trace_files with globs."""
    import glob
    if c.trace_directory:
        return sorted(str(p) for p in pathlib.Path(c.trace_directory).glob("*.json"))
    out = set()
    for p in c.trace_files or []:
        if "*" in p or "?" in p:
            out.update(f for f in glob.glob(p, recursive=True) if os.path.isfile(f))
        elif os.path.isfile(p):
            out.add(p)
    return sorted(out)


HF_CACHE = pathlib.Path(__file__).resolve().parent.parent / "tests/data/inference-perf/hf-cache"


def otel_traces(c):
    """Each trace's name and spans: the trace files, or the rows of hf_dataset_path's dataset
    as the fixtures' Hub cache (HF_CACHE) holds it, JSON Lines at the revision's snapshot;
    those `filter` keeps, as inference-perf's generator compiles and applies it (a trace file
    normalized first, as its loader does)."""
    from inference_perf.datagen.replay import otel_trace_replay_datagen as otel
    keep = otel._compile_filter(c.filter) or (lambda row: True)
    if not c.hf_dataset_path:
        out = []
        for p in otel_files(c):
            data = json.loads(pathlib.Path(p).read_text(encoding="utf-8"))
            if keep(otel._normalize_file_trace(data, pathlib.Path(p).name, str(p))):
                out.append((p, data.get("spans") or []))
        return out
    ref = c.hf_dataset_path if isinstance(c.hf_dataset_path, dict) else {"path": c.hf_dataset_path}
    repo = HF_CACHE / ("datasets--" + ref["path"].replace("/", "--"))
    commit = (repo / "refs" / ref.get("revision", "main")).read_text().strip()
    rows = []
    for f in sorted((repo / "snapshots" / commit).rglob("*.jsonl")):
        rows += [(f"{f}:{i}", row.get("spans") or [])
                 for i, row in enumerate(json.loads(line) for line in
                                         f.read_text(encoding="utf-8").splitlines() if line.strip())
                 if keep(row)]
    return rows


def otel_sessions(c):
    """Sessions of an OTel trace replay: one per trace, duplicated up to the target."""
    return max(len(otel_traces(c)), c.duplicate_sessions_target or 0)


def check_otel(c, source, problems):
    """otel_trace_replay: the replay settings, the sessions, and each trace's graph (every
    call's predecessors, wait and max_tokens) as inference-perf's build_graph makes it."""
    from inference_perf.datagen.replay.otel_trace_to_replay_graph import build_graph, build_raw_calls
    if source["kind"] != "replay":
        return problems.append(f"otel_trace_replay: source {source['kind']}")
    timeout = round(c.predecessor_wait_timeout_sec * 1000) or None
    want = {"max_wait_ms": c.max_wait_ms, "substitute_outputs": not c.disable_output_substitution,
            "inject_session_id": c.inject_random_session_id, "predecessor_timeout_ms": timeout}
    for key, value in want.items():
        if source.get(key) != value:
            problems.append(f"otel_trace_replay {key}: {value} vs {source.get(key)}")
    if len(source["slots"]) != otel_sessions(c):
        problems.append(f"otel_trace_replay: {otel_sessions(c)} sessions vs {len(source['slots'])}")
    traces = otel_traces(c)
    if len(traces) != len(source["graphs"]):
        return problems.append(f"otel_trace_replay: {len(traces)} traces vs {len(source['graphs'])} graphs")
    for (path, spans), ours in zip(traces, source["graphs"]):
        graph = build_graph(build_raw_calls(spans, include_errors=c.include_errors)[0])
        ids = list(graph.events)
        theirs = [(sorted(ids.index(p) for p in e.predecessor_event_ids), e.wait_ms, e.call.expected_output_tokens)
                  for e in graph.events.values()]
        got = [(e.get("preds", []), e["wait_ms"], e["max_tokens"]) for e in ours["events"]]
        if theirs != got:
            problems.append(f"otel_trace_replay {path}: graph {theirs} vs {got}")


def weka_sessions(cfg, path):
    """inference-perf's Weka replay sessions of the fixture at `path`, built by its own generator
    (the tokenizer path taken from the fixture's directory, as fleetbench resolves it; a Hub
    dataset's traces.jsonl from the fixtures' Hub cache, never the network)."""
    from inference_perf.config import CustomTokenizerConfig
    from inference_perf.datagen.replay import weka_trace_replay_datagen as weka
    from inference_perf.utils.custom_tokenizer import CustomTokenizer

    def from_cache(repo_id, filename, repo_type):
        repo = HF_CACHE / ("datasets--" + repo_id.replace("/", "--"))
        commit = (repo / "refs" / "main").read_text().strip()
        return str(repo / "snapshots" / commit / filename)

    weka.hf_hub_download = from_cache
    name = cfg.tokenizer.pretrained_model_name_or_path
    local = path.parent / name
    tok = CustomTokenizer(CustomTokenizerConfig(pretrained_model_name_or_path=str(local) if local.exists() else name))
    if cfg.data.weka_trace_replay.datagen_workers is None:
        cfg.data.weka_trace_replay.datagen_workers = 1
    gen = weka.WekaTraceReplayDataGenerator(cfg.api, cfg.data, tok, None, cfg.load.base_seed)
    return gen.sessions


def check_weka(cfg, text, path, source, problems):
    """weka_trace_replay: the replay settings, and every session as inference-perf's generator
    builds it: its id and, per call, predecessors, wait, max_tokens (default_max_tokens for a
    recorded 0), messages and expected output, byte for byte."""
    c = cfg.data.weka_trace_replay
    if source["kind"] != "replay":
        return problems.append(f"weka_trace_replay: source {source['kind']}")
    timeout = round(c.predecessor_wait_timeout_sec * 1000) or None
    want = {"max_wait_ms": c.max_wait_ms, "substitute_outputs": True,
            "inject_session_id": c.inject_random_session_id, "predecessor_timeout_ms": timeout}
    for key, value in want.items():
        if source.get(key) != value:
            problems.append(f"weka_trace_replay {key}: {value} vs {source.get(key)}")
    if "base_seed" not in (text.get("load") or {}):
        # inference-perf seeds with the time when load.base_seed is absent; fleetbench with 42.
        cfg.load.base_seed = 42
    sessions = weka_sessions(cfg, path)
    ids = [s.session_id for s in sessions]
    if ids != [s["id"] for s in source["slots"]]:
        return problems.append(f"weka_trace_replay: sessions {ids} vs {[s['id'] for s in source['slots']]}")
    for session, slot in zip(sessions, source["slots"]):
        events = list(session.graph.events.values())
        keys = list(session.graph.events)
        theirs = [(sorted(keys.index(p) for p in e.predecessor_event_ids), e.wait_ms,
                   e.call.expected_output_tokens or c.default_max_tokens,
                   [[m["role"], m["content"]] for m in e.call.messages], e.call.expected_output)
                  for e in events]
        got, sent = [], []
        for e in source["graphs"][slot["graph"]]["events"]:
            # A call's leading messages may travel as a reference to an earlier call's.
            src, n = e.get("shared", [0, 0])
            sent.append(sent[src][:n] + [[m["role"], m["content"]] for m in e["messages"]] if n else
                        [[m["role"], m["content"]] for m in e["messages"]])
            got.append((e.get("preds", []), e["wait_ms"], e["max_tokens"], sent[-1], e.get("expected_output", "")))
        if theirs != got:
            k = next((k for k, (a, b) in enumerate(zip(theirs, got)) if a != b), min(len(theirs), len(got)))
            a, b = (theirs[k] if k < len(theirs) else None), (got[k] if k < len(got) else None)
            problems.append(f"weka_trace_replay {slot['id']}: {len(theirs)} vs {len(got)} calls; call {k}: {a} vs {b}"[:2000])


def agentic_structural(c):
    """Whether a synthetic_agentic section draws nothing that shapes its graphs (fixed counts,
    a fan-out probability of 0 or 1, no compaction): then fleetbench's graphs, drawn with its
    own streams and words, must have the shape of inference-perf's."""
    fixed = lambda d: d is None or getattr(d.type, "value", d.type) == "fixed"
    shaping = (c.turns_per_session, c.tool_loop_depth, c.tool_catalog_size_per_agent,
               c.parallel_tool_calls_per_step)
    subs = c.sub_agents_per_spawn if c.fanout_probability == 1 else None
    return (all(fixed(d) for d in shaping) and fixed(subs) and c.fanout_probability in (0, 1)
            and c.context_compaction is None)


def check_agentic(cfg, path, source, problems):
    """synthetic_agentic: the replay settings and the sessions (num_sessions, named synthN<i>);
    for a section whose draws do not shape the graphs, every session's graph as inference-perf's
    build_graph_for_session lays it out: per call its id, its predecessors, its segments (kind,
    messages, source), its messages, its wait, whether its output is a forced tool call."""
    from inference_perf.config import CustomTokenizerConfig
    from inference_perf.datagen.synthetic_agentic import GENERIC_THEME
    from inference_perf.datagen.synthetic_agentic.synthetic_agentic_datagen import build_graph_for_session
    from inference_perf.utils.custom_tokenizer import CustomTokenizer
    c = cfg.data.synthetic_agentic
    if source["kind"] != "replay":
        return problems.append(f"synthetic_agentic: source {source['kind']}")
    timeout = round(c.predecessor_wait_timeout_sec * 1000) or None
    want = {"max_wait_ms": c.max_wait_ms, "substitute_outputs": True,
            "inject_session_id": False, "predecessor_timeout_ms": timeout}
    for key, value in want.items():
        if source.get(key) != value:
            problems.append(f"synthetic_agentic {key}: {value} vs {source.get(key)}")
    ids = [f"synthN{i}" for i in range(c.num_sessions)]
    if ids != [s["id"] for s in source["slots"]]:
        return problems.append(f"synthetic_agentic: sessions {ids} vs {[s['id'] for s in source['slots']]}")
    if not agentic_structural(c):
        return
    name = cfg.tokenizer.pretrained_model_name_or_path
    local = path.parent / name
    tok = CustomTokenizer(CustomTokenizerConfig(pretrained_model_name_or_path=str(local) if local.exists() else name))
    forced_mode = c.tool_choice_mode.value == "force_recorded" if hasattr(c.tool_choice_mode, "value") else c.tool_choice_mode == "force_recorded"
    for i, slot in enumerate(source["slots"]):
        graph = build_graph_for_session(c, GENERIC_THEME, tok, i)
        keys = list(graph.events)
        theirs = []
        for e in graph.events.values():
            segs = [(g.type, g.message_count, g.source_event_id or "") for g in e.call.input_segments]
            if not segs:
                segs = [("unique", len(e.call.messages), "")]
            tool = e.call.expected_output_is_tool_call if forced_mode else None
            theirs.append((e.event_id, sorted(e.predecessor_event_ids), segs, len(e.call.messages), e.wait_ms, tool))
        events = source["graphs"][slot["graph"]]["events"]
        got = []
        for e in events:
            eid = lambda k: events[k]["id"]
            segs = [(g["kind"], g["messages"], eid(g["source"]) if g.get("source") is not None else "")
                    for g in e["segments"]]
            n = len(e["messages"]) + e.get("shared", [0, 0])[1]
            choice = e.get("tool_choice")
            tool = (isinstance(choice, dict) or choice == "required") if forced_mode else None
            got.append((e["id"], sorted(eid(p) for p in e.get("preds", [])), segs, n, e["wait_ms"], tool))
        if theirs != got:
            k = next((k for k, (a, b) in enumerate(zip(theirs, got)) if a != b), min(len(theirs), len(got)))
            a, b = (theirs[k] if k < len(theirs) else None), (got[k] if k < len(got) else None)
            problems.append(f"synthetic_agentic {slot['id']}: {len(theirs)} vs {len(got)} calls; call {k}: {a} vs {b}"[:2000])


def check_visionarena(cfg, data, problems):
    """The pool inference-perf's own generator builds from the dataset's rows in the fixtures'
    Hub cache (its `load_dataset` handed the cached Parquet rows) against the plan's entries
    and the images it names by SHA-256, in order."""
    import hashlib

    import pyarrow.parquet as pq
    from inference_perf.datagen.dataset import visionarena_datagen as va

    c = cfg.data.visionarena
    repo = HF_CACHE / ("datasets--" + c.hf_dataset_name.replace("/", "--"))
    commit = (repo / "refs" / "main").read_text().strip()
    files = sorted((repo / "snapshots" / commit).rglob("*.parquet"))
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    va.load_dataset = lambda *a, **k: iter(rows)
    pool = va.VisionArenaDataGenerator(cfg.api, cfg.data, None)._pool
    entries = data.get("prompts", [])
    if [e["prompt"] for e in entries] != [e["prompt"] for e in pool]:
        problems.append(f"visionarena prompts: {[e['prompt'] for e in entries]} vs {[e['prompt'] for e in pool]}")
    ours = [i["digest"] for i in (data.get("stored_media") or {}).get("images", [])]
    theirs = [hashlib.sha256(img[0]).hexdigest() for e in pool for img in e["images"]]
    if ours != theirs:
        problems.append(f"visionarena images: {len(ours)} vs {len(theirs)}, or not the same bytes")
    if [len(e.get("images", [])) for e in entries] != [len(e["images"]) for e in pool]:
        problems.append("visionarena: images per row differ")


def check_data(cfg, text, plan, problems, path=None):
    data = plan["stages"][0]["shards"][0]["data"]
    source = data
    if cfg.data.multimodal is not None:
        check_media("data.multimodal", cfg.data.multimodal, data.get("media"), problems)
    elif data.get("media") is not None:
        problems.append(f"data.multimodal: none vs {data['media']}")
    sp = cfg.data.shared_prefix
    if sp is not None and sp.multimodal is not None:
        check_media("data.shared_prefix.multimodal", sp.multimodal, data.get("prefix_media"), problems)
    kind = cfg.data.type.value
    if kind in ("random", "synthetic") and cfg.data.trace is None:
        if source["kind"] != "synthetic":
            problems.append(f"data {kind}: source {source['kind']}")
        else:
            check_dist("input_distribution", cfg.data.input_distribution, source["input"], problems)
            check_dist("output_distribution", cfg.data.output_distribution, source["output"], problems)
    elif kind in ("random", "synthetic"):
        if source["kind"] != "trace":
            problems.append(f"data {kind} with a trace: source {source['kind']}")
    elif kind == "shared_prefix":
        check_shared_prefix(cfg.data.shared_prefix, source, problems)
    elif kind == "mock":
        if source != {"kind": "mock", "chat": cfg.api.type.value == "chat"}:
            problems.append(f"mock: source {source}")
    elif kind == "shareGPT":
        check_sharegpt(cfg, source, problems)
    elif kind in TEXT_DATASETS:
        check_text_dataset(cfg, source, problems)
    elif kind == "conversation_replay":
        check_conversations(cfg.data.conversation_replay, source, problems)
    elif kind == "otel_trace_replay":
        check_otel(cfg.data.otel_trace_replay, source, problems)
    elif kind == "weka_trace_replay":
        check_weka(cfg, text, path, source, problems)
    elif kind == "visionarena":
        check_visionarena(cfg, data, problems)
    elif kind == "synthetic_agentic":
        check_agentic(cfg, path, source, problems)
    else:
        problems.append(f"data type {kind}: no meaning check")


def check_sweep(cfg, plan, problems):
    """load.sweep: the plan's one stage is the probe (num_requests at num_requests / 5 per
    second for 5 s, inference-perf's preprocess stage), and the sweep's keys, defaults filled
    in, are inference-perf's; the given stages are replaced by the generated ones."""
    sweep = cfg.load.sweep
    ours = plan.get("sweep")
    if ours is None:
        return problems.append("sweep: not in fleetbench's plan")
    for key in ("num_requests", "timeout", "num_stages", "stage_duration", "saturation_percentile"):
        if not close(getattr(sweep, key), ours[key]):
            problems.append(f"sweep.{key}: {getattr(sweep, key)} vs {ours[key]}")
    if sweep.type.value != ours["type"]:
        problems.append(f"sweep.type: {sweep.type.value} vs {ours['type']}")
    stages = plan["stages"]
    load = stages[0]["load"] if len(stages) == 1 else {}
    want = {"constant": "constant", "poisson": "poisson"}.get(cfg.load.type.value)
    rate = sweep.num_requests / 5
    if load.get("type") != want or not close(load.get("rate", 0), rate) or stages[0]["label"] != "sweep-probe":
        problems.append(f"sweep probe: {len(stages)} stages, {load} vs {want} at {rate} req/s for 5 s")
    elif not close(load.get("duration_s", 0), 5):
        problems.append(f"sweep probe: {load['duration_s']} s vs 5 s")


def source_slots(plan):
    """The sessions of a plan's replay (their number is checked against inference-perf's in
    check_weka)."""
    return plan["stages"][0]["shards"][0]["data"].get("slots", [])


def check_load(cfg, text, plan, problems):
    load_type = cfg.load.type.value
    ours = {"trace_replay": "trace", "trace_session_replay": "sessions"}.get(load_type, load_type)
    cursor = 0
    stages = plan["stages"]
    if cfg.load.sweep is not None:
        return check_sweep(cfg, plan, problems)
    if len(stages) != len(cfg.load.stages):
        problems.append(f"{len(cfg.load.stages)} stages vs {len(stages)}")
    for i, (theirs, st) in enumerate(zip(cfg.load.stages, stages)):
        load = st["load"]
        if load["type"] != ours:
            problems.append(f"stage {i}: type {load_type} vs {load['type']}")
        elif ours in ("constant", "poisson"):
            if not close(theirs.rate, load["rate"]) or not close(theirs.duration, load["duration_s"]):
                problems.append(f"stage {i}: rate/duration {theirs.rate}/{theirs.duration} vs {load}")
        elif ours == "concurrent":
            if theirs.concurrency_level != load["users"] or theirs.num_requests != load["num_requests"]:
                problems.append(f"stage {i}: {theirs.concurrency_level} users / {theirs.num_requests} vs {load}")
        elif ours == "sessions":
            # inference-perf's session cursor: each stage takes the next num_sessions (all left
            # without it).
            corpus = cfg.data.conversation_replay.num_conversations if cfg.data.conversation_replay else None
            if cfg.data.otel_trace_replay is not None:
                corpus = otel_sessions(cfg.data.otel_trace_replay)
            if cfg.data.weka_trace_replay is not None or cfg.data.synthetic_agentic is not None:
                corpus = len(source_slots(plan))
            left = corpus - cursor if corpus is not None else None
            want = min(theirs.num_sessions or left, left) if left is not None else theirs.num_sessions
            got = (load["concurrent"], load["session_rate"], load["first_session"], load["sessions"], load["timeout_s"])
            if got != (theirs.concurrent_sessions, theirs.session_rate, cursor, want, theirs.timeout):
                problems.append(f"stage {i}: {theirs} vs {load}")
            cursor += load["sessions"]
    if not close(cfg.load.interval, plan["stage_interval_s"]):
        problems.append(f"load.interval {cfg.load.interval} vs {plan['stage_interval_s']}")
    endpoint = plan["stages"][0]["shards"][0]["endpoint"]
    if cfg.api.session_id_header_key != endpoint.get("session_id_header"):
        problems.append(f"session_id_header_key {cfg.api.session_id_header_key} vs {endpoint.get('session_id_header')}")
    rf = cfg.api.response_format
    if (rf.to_api_format() if rf else None) != endpoint.get("response_format"):
        problems.append(f"response_format {rf} vs {endpoint.get('response_format')}")
    if endpoint["api"] != cfg.api.type.value or endpoint["streaming"] != cfg.api.streaming:
        problems.append(f"api {cfg.api.type.value}/{cfg.api.streaming} vs {endpoint['api']}/{endpoint['streaming']}")


def main():
    import yaml

    binary = sys.argv[1]
    root = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "tests/data/inference-perf")
    failures, counts = [], {}
    for group in ("accept", "reject", "unsupported"):
        for path in sorted((root / group).glob("*.yaml")):
            cfg, ip_err = inference_perf(path)
            plan, fb_err = fleetbench(binary, path)
            problems = []
            if group == "accept":
                if ip_err or fb_err:
                    problems.append(f"inference-perf: {ip_err or 'ok'}; fleetbench: {fb_err or 'ok'}")
                else:
                    text = yaml.safe_load(path.read_text())
                    check_load(cfg, text, plan, problems)
                    check_data(cfg, text, plan, problems, path)
            elif group == "reject":
                if ip_err is None or fb_err is None:
                    problems.append(f"inference-perf: {ip_err or 'accepted'}; fleetbench: {fb_err or 'accepted'}")
                elif "does not support yet" in fb_err:
                    problems.append(f"fleetbench refuses it as not supported, not for what is wrong: {fb_err}")
            else:
                if ip_err is not None:
                    problems.append(f"inference-perf refuses it: {ip_err}")
                if fb_err is None or "does not support yet" not in fb_err:
                    problems.append(f"fleetbench: {fb_err or 'accepted'}")
            counts[group] = counts.get(group, 0) + 1
            status = "ok" if not problems else "DIFFERS"
            print(f"{status:8} {group}/{path.name}" + "".join(f"\n         {p}" for p in problems))
            if fb_err and not problems:
                print(f"         fleetbench: {fb_err}")
            if problems:
                failures.append(path.name)
    print(f"\n{sum(counts.values())} fixtures ({counts}); {len(failures)} differ")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
