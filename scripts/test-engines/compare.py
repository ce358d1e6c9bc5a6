#!/usr/bin/env python3
"""fleetbench against a real engine: llama.cpp's llama-server with SmolLM2-135M-Instruct on CPU.

Builds (or reuses) llama-server and the model with build-llama.sh, starts the server with its
default settings (plus --metrics, and --jinja for tool calls), then runs four profiles with a
coordinator and two agents: closed loop (2 users, 30 requests), constant 0.5 req/s for 20 s, a
chat closed loop, and an OTel replay of tool calls (tests/data/otel-tools: `tools` and each
`tool_choice` as inference-perf sends them, which the server must accept). For
each it compares fleetbench's per-request figures with the server's own: its /metrics counters
(tokens predicted, prompt tokens) and its per-request timings from the log (prompt eval time).
Prints a Markdown table (and writes it to OUT/table.md). Standard library only.

Usage: compare.py --bin TARGET/release [--engines DIR] [--out DIR]
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(engines):
    env = dict(os.environ, ENGINES_DIR=str(engines))
    out = subprocess.run(
        ["bash", str(HERE / "build-llama.sh")], env=env, check=True, capture_output=True, text=True
    ).stdout
    vals = dict(l.split("=", 1) for l in out.splitlines() if "=" in l)
    return vals["LLAMA_SERVER"], vals["MODEL"]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def counters(metrics_url):
    text = get(metrics_url)
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            pass
    return out


def start_server(server, model, port, log):
    proc = subprocess.Popen(
        [server, "-m", model, "--host", "127.0.0.1", "--port", str(port), "--metrics", "--jinja"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if "ok" in get(f"http://127.0.0.1:{port}/health", timeout=1):
                return proc
        except Exception:
            time.sleep(0.5)
    proc.kill()
    sys.exit("llama-server did not become healthy within 120 s")


def run_profile(bindir, work, name, profile_text, metrics_url):
    d = work / name
    d.mkdir(parents=True, exist_ok=True)
    prof = d / "profile.yaml"
    prof.write_text(profile_text)
    coord = subprocess.Popen(
        [
            f"{bindir}/coordinator", "run", str(prof), "--expect-agents", "2",
            "--listen", "127.0.0.1:0", "--insecure", "--out", str(d / "results"),
            # The preflight's test requests would count in the server's figures beside the
            # stage's: compared here are exactly the benchmark's requests.
            "--no-preflight",
        ],
        stdout=subprocess.PIPE,
        stderr=open(d / "coordinator.log", "w"),
        text=True,
    )
    addr = coord.stdout.readline().strip().removeprefix("listening on ")
    agents = [
        subprocess.Popen(
            [
                f"{bindir}/agent", "join", "--coordinator", addr, "--insecure", "--once",
                "--name", f"agent-{n}", "--role", "client",
                "--engine-metrics", metrics_url, "--telemetry-interval", "0.5",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(d / f"agent-{n}.log", "w"),
        )
        for n in "ab"
    ]
    rc = coord.wait(timeout=900)
    for a in agents:
        a.wait(timeout=30)
    run = next((d / "results").iterdir())
    report = json.loads((run / "stage-0" / "report.json").read_text())
    lines = (run / "requests.jsonl").read_text().splitlines() if (run / "requests.jsonl").exists() else []
    return rc, report, [json.loads(l) for l in lines if l.strip()]


TIMING = re.compile(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens")
EVAL = re.compile(r"(?<!prompt )eval time =\s*([\d.]+) ms /\s*(\d+) tokens")


def server_timings(log_path, start_offset):
    """(prompt_eval_ms, prompt_n, eval_ms, eval_n) per finished request, in log order."""
    text = Path(log_path).read_text(errors="replace")[start_offset:]
    out, pending = [], None
    for line in text.splitlines():
        m = TIMING.search(line)
        if m:
            pending = (float(m.group(1)), int(m.group(2)))
            continue
        m = EVAL.search(line)
        if m and pending:
            out.append((*pending, float(m.group(1)), int(m.group(2))))
            pending = None
    return out


def profile(base_url, api, load, model="smollm2"):
    return (
        "name: llamacpp\n"
        f"server: {{type: vllm, model_name: {model}, base_url: '{base_url}', ignore_eos: true}}\n"
        f"api: {{type: {api}, streaming: true}}\n"
        "data: {type: random, input_distribution: {min: 32, max: 32, mean: 32},\n"
        "       output_distribution: {min: 32, max: 32, mean: 32}}\n"
        f"load: {load}\n"
        "report: {request_lifecycle: {per_request: true}}\n"
    )


def tool_replay(base_url, model="smollm2"):
    """The trace of tool calls of tests/data/otel-tools replayed as one session; max_tokens as
    recorded (the 4096 of the tool-call override does not fit the server's slots)."""
    traces = HERE.parent.parent / "tests/data/otel-tools"
    return (
        "name: llamacpp-tools\n"
        f"server: {{type: vllm, model_name: {model}, base_url: '{base_url}', ignore_eos: true}}\n"
        "api: {type: chat, streaming: true}\n"
        "data:\n  type: otel_trace_replay\n  otel_trace_replay:\n"
        f"    trace_directory: '{traces}'\n"
        f"    use_static_model: true\n    static_model_name: {model}\n"
        "    override_tool_call_max_tokens: false\n    max_wait_ms: 50\n"
        "load: {type: trace_session_replay, stages: [{concurrent_sessions: 1}]}\n"
        "report: {request_lifecycle: {per_request: true}}\n"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--engines", default=os.environ.get("ENGINES_DIR", "/var/cache/fleetbench/engines"))
    ap.add_argument("--out", default="results/test-engines")
    a = ap.parse_args()
    work = Path(a.out).resolve()
    work.mkdir(parents=True, exist_ok=True)
    server, model = build(Path(a.engines))
    port = free_port()
    log_path = work / "llama-server.log"
    log = open(log_path, "w")
    proc = start_server(server, model, port, log)
    base = f"http://127.0.0.1:{port}"
    metrics_url = f"{base}/metrics"
    scenarios = [
        ("closed loop, 2 users, 30 requests", profile(base, "completion",
         "{type: concurrent, stages: [{concurrency_level: 2, num_requests: 30}]}")),
        ("0.5 req/s for 20 s", profile(base, "completion", "{type: constant, stages: [{rate: 0.5, duration: 20}]}")),
        ("chat, closed loop, 2 users, 10 requests", profile(base, "chat",
         "{type: concurrent, stages: [{concurrency_level: 2, num_requests: 10}]}")),
        ("chat, OTel replay of 6 tool calls", tool_replay(base)),
    ]
    rows = []
    try:
        for i, (name, text) in enumerate(scenarios):
            before = counters(metrics_url)
            log.flush()
            offset = log_path.stat().st_size
            rc, r, reqs = run_profile(a.bin, work, f"s{i}", text, metrics_url)
            time.sleep(0.5)
            log.flush()
            after = counters(metrics_url)
            timings = server_timings(log_path, offset)
            m = r["metrics"]
            meta = m.get("metadata", {})
            conns = meta.get("connections", {})
            total, failed = m["requests"]["total"], m["requests"].get("failures", 0)
            client_out = sum(q["output_tokens"] for q in reqs if q["status"] == "ok")
            server_out = after.get("llamacpp:tokens_predicted_total", 0) - before.get("llamacpp:tokens_predicted_total", 0)
            # Per request: TTFT (from the send) against the server's prompt eval time, paired in
            # order of the end (the server logs a request's timings when it ends).
            ok = sorted((q for q in reqs if q["status"] == "ok" and q.get("first_token_unix_ns")),
                        key=lambda q: q["end_unix_ns"])
            diffs = [
                (q["first_token_unix_ns"] - q["sent_unix_ns"]) / 1e6 - t[0]
                for q, t in zip(ok, timings)
            ] if len(ok) == len(timings) else []
            out_server = sum(t[3] for t in timings)
            service = m.get("service") or {}
            fam = ",".join(sorted(set((meta.get("host_groups") or [{}])[0].get("engine", {}).get("families", {}).values())))
            rows.append({
                "scenario": name,
                "exit": rc,
                "ok": f"{total - failed:.0f}/{total:.0f}",
                "failures": json.dumps(meta.get("failures_by_class", {})),
                "conns opened/reused/retries": f"{conns.get('opened')}/{conns.get('reused')}/{conns.get('retries')}",
                "TTFT p50 ms": round(m["latency"]["time_to_first_token"].get("median", m["latency"]["time_to_first_token"].get("p50", 0)), 1),
                "server prompt eval p50 ms": round(sorted(t[0] for t in timings)[len(timings) // 2], 1) if timings else None,
                "TTFT − prompt eval, mean/max ms": f"{sum(diffs)/len(diffs):.1f}/{max(diffs):.1f}" if diffs else f"n/a ({len(ok)} ok, {len(timings)} timings)",
                "output tokens client/server": f"{client_out}/{server_out:.0f}",
                "metrics.service": f"{'filled' if service.get('batch_size') else 'empty'} ({fam})",
            })
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    cols = list(rows[0].keys())
    table = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    for r in rows:
        table += "| " + " | ".join(str(r[c]) for c in cols) + " |\n"
    (work / "table.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
