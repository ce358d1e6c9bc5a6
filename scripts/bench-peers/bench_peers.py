#!/usr/bin/env python3
"""`make bench-peers`: fleetbench against the Python peers (aiperf, guidellm, inference-perf),
the same sim and the same workload, in one run (issue 9). Standard library only (Python >= 3.11).

Workloads, each run by every tool one after another against a fresh sim (`sim serve
--deterministic`, one tokio thread, pinned to the sim core; the tool's processes pinned to the
tool core with taskset, as fleetbench-bench does):

1. ceiling: zero-delay sim, 128-token streamed completions, 256 concurrent streams (closed loop);
   the sim writes each response as one HTTP chunk (`--framing batched`: 128 events per read).
2. per-event: the same at zero delay with one HTTP chunk and TCP segment per event
   (`--framing per-event`), the regime of real engines.
3. fidelity: sim with TTFT 5 ms and 5 ms between tokens writing its ground truth; each tool's
   reported TTFT p50 / ITL p50 against the truth's p50.

While a tool runs, a sampler reads every 0.25 s: the CPU time (utime + stime + cutime + cstime)
and RSS of the tool's whole process tree from /proc, and the sim's `vllm:generation_tokens_total`
from its /metrics. Chunks/s and CPU per 1,000 chunks come from the steady window of that series
(from 1 s after the first token to 1 s before the last), so they are measured the same way for
every tool and leave out each tool's start-up (imports, tokenizer, data) and report writing;
the whole-run CPU is reported beside them.

The peers live in .venv-peers/<tool>/ (one venv each, installed from PyPI with the versions
pinned in requirements.txt and the transitive pins in constraints-<tool>.txt). They get a small
local tokenizer built around tests/data/tokenizer/tokenizer.json and HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VENVS = REPO / ".venv-peers"
PEERS = ["aiperf", "guidellm", "inference-perf"]
TOOLS = ["fleetbench", *PEERS]
TOKENIZER_ID = "fleetbench/tiny-bpe"  # the id under which the local HF cache holds it
SAMPLE_S = 0.25
CLK_TCK = os.sysconf("SC_CLK_TCK")
LIVE: list[subprocess.Popen] = []  # everything started here, stopped on exit whatever happens


# ------------------------------------------------------------------------------ /proc sampling


def proc_stat(pid: int) -> tuple[int, float] | None:
    """(ppid, utime + stime + cutime + cstime in seconds) of a process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    rest = raw[raw.rfind(")") + 2 :].split()
    ppid = int(rest[1])
    ticks = sum(int(rest[i]) for i in (11, 12, 13, 14))
    return ppid, ticks / CLK_TCK


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, Pss) of a process in kB; 0 when gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                    break
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                    break
    except (OSError, ValueError):
        pass
    return rss, pss


def tree(root: int) -> dict[int, float]:
    """Every live process under `root` (itself included): pid -> its CPU seconds, counting its
    reaped children (cutime/cstime), so the sum is the tree's total CPU so far."""
    stats: dict[int, tuple[int, float]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            s = proc_stat(int(name))
            if s:
                stats[int(name)] = s
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in stats and pid not in out:
            out[pid] = stats[pid][1]
            todo.extend(children.get(pid, []))
    return out


def sim_counters(addr: str) -> tuple[int, int, int]:
    """(generation tokens, requests finished by length, aborted requests) from the sim's /metrics."""
    tokens = ok = aborted = 0
    try:
        conn = http.client.HTTPConnection(*addr.rsplit(":", 1), timeout=2)
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
        conn.close()
    except OSError:
        return -1, -1, -1
    for line in body.splitlines():
        if line.startswith("vllm:generation_tokens_total"):
            tokens = int(float(line.split()[-1]))
        elif line.startswith("vllm:request_success_total") and 'finished_reason="length"' in line:
            ok = int(float(line.split()[-1]))
        elif line.startswith("vllm:request_success_total") and 'finished_reason="abort"' in line:
            aborted = int(float(line.split()[-1]))
    return tokens, ok, aborted


@dataclass
class Sample:
    t: float
    cpu: float  # tool tree CPU seconds
    rss_kb: int
    pss_kb: int
    tokens: int
    aux_cpu: float = 0.0  # e.g. fleetbench's coordinator


class Sampler(threading.Thread):
    def __init__(self, roots: list[int], aux_roots: list[int], sim_addr: str):
        super().__init__(daemon=True)
        self.roots, self.aux_roots, self.addr = roots, aux_roots, sim_addr
        self.samples: list[Sample] = []
        self.stop_ev = threading.Event()
        self.peak_rss = self.peak_pss = 0
        self.max_procs = 0

    def sample(self) -> None:
        procs: dict[int, float] = {}
        for r in self.roots:
            procs.update(tree(r))
        aux: dict[int, float] = {}
        for r in self.aux_roots:
            aux.update(tree(r))
        rss = pss = 0
        for pid in procs:
            a, b = rss_kb(pid)
            rss, pss = rss + a, pss + b
        tokens, _, _ = sim_counters(self.addr)
        self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
        self.max_procs = max(self.max_procs, len(procs))
        if procs:
            self.samples.append(
                Sample(time.monotonic(), sum(procs.values()), rss, pss, tokens, sum(aux.values()))
            )

    def run(self) -> None:
        while not self.stop_ev.is_set():
            self.sample()
            self.stop_ev.wait(SAMPLE_S)

    def stop(self) -> None:
        self.stop_ev.set()
        self.join()


def steady_window(samples: list[Sample]) -> dict | None:
    """Chunks/s and CPU per 1,000 chunks between 1 s after the first token the sim sent and 1 s
    before the last (the whole token span when it is shorter than 4 s)."""
    s = [x for x in samples if x.tokens >= 0]
    first = next((i for i, x in enumerate(s) if x.tokens > 0), None)
    if first is None:
        return None
    final = s[-1].tokens
    last = next(i for i, x in enumerate(s) if x.tokens == final)
    t0, t1 = s[first].t, s[last].t
    if t1 - t0 >= 4.0:
        a = next(i for i, x in enumerate(s) if x.t >= t0 + 1.0)
        b = max(i for i, x in enumerate(s) if x.t <= t1 - 1.0)
    else:
        a, b = max(first - 1, 0), last
    if b <= a:
        return None
    dtok = s[b].tokens - s[a].tokens
    dt_s = s[b].t - s[a].t
    dcpu = s[b].cpu - s[a].cpu
    if dtok <= 0 or dt_s <= 0:
        return None
    return {
        "window_s": dt_s,
        "chunks": dtok,
        "chunks_per_s": dtok / dt_s,
        "cpu_s": dcpu,
        "cpu_s_per_1k_chunks": dcpu * 1000.0 / dtok,
        "cpu_busy": dcpu / dt_s,
        "aux_cpu_s_per_1k_chunks": (s[b].aux_cpu - s[a].aux_cpu) * 1000.0 / dtok,
        "token_span_s": t1 - t0,
    }


# ------------------------------------------------------------------------------ processes


class Sim:
    def __init__(self, binary: Path, core: int, flags: list[str], log: Path):
        self.log = open(log, "w")
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(core), str(binary), "serve", "--listen", "127.0.0.1:0",
             "--threads", "1", "--deterministic", *flags],
            stdout=subprocess.PIPE, stderr=self.log, text=True, start_new_session=True,
        )
        LIVE.append(self.proc)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.close()
            raise RuntimeError(f"sim did not start: {line!r} (log {log})")
        self.addr = line.removeprefix("listening on ")

    def close(self) -> None:
        end_group(self.proc, signal.SIGTERM)
        self.log.close()


def spawn(cmd: list[str], core: int, log: Path, env: dict, cwd: Path) -> subprocess.Popen:
    out = open(log, "w")
    p = subprocess.Popen(
        ["taskset", "-c", str(core), *cmd], stdout=out, stderr=subprocess.STDOUT, env=env,
        cwd=cwd, start_new_session=True,
    )
    LIVE.append(p)
    return p


def end_group(p: subprocess.Popen, first: int = signal.SIGINT) -> None:
    """Stop a process we started (each is a session leader) and everything in its session."""
    if p.poll() is not None:
        try:  # the leader is gone: workers it left behind, if any
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return
    for sig, wait in ((first, 10), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_rusage(p: subprocess.Popen, timeout: float) -> tuple[bool, float | None]:
    """Wait for `p` (at most `timeout` s); (timed out, its CPU seconds including reaped children
    from wait4) — the whole-run CPU, start-up and report writing included."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return False, ru.ru_utime + ru.ru_stime
        time.sleep(0.1)
    return True, None


# ------------------------------------------------------------------------------ tools


@dataclass
class Workload:
    name: str
    ttft_ms: float
    itl_ms: float
    seconds: float
    streams: int
    tokens: int
    prompt_tokens: int
    # The sim's --framing: "batched" writes a zero-delay response as one HTTP chunk (128 events
    # per read), "per-event" one chunk and TCP segment per event, as real engines stream; "auto"
    # is per-event whenever tokens are timed.
    framing: str = "auto"


@dataclass
class Result:
    tool: str
    workload: str
    not_run: str | None = None
    note: str = ""
    window: dict | None = None
    peak_rss_mb: float = 0.0
    peak_pss_mb: float = 0.0
    procs: int = 0
    wall_s: float = 0.0
    whole_cpu_s: float | None = None
    sim_requests: int = 0
    sim_tokens: int = 0
    sim_aborted: int = 0
    reported: dict = field(default_factory=dict)  # ttft_p50_ms, itl_p50_ms, requests, tokens_per_s
    truth: dict = field(default_factory=dict)  # ttft_p50_ms, itl_p50_ms
    command: str = ""


class Env:
    """What every run shares: binaries, cores, the tokenizer and the peers' venvs."""

    def __init__(self, args, work: Path):
        self.args = args
        self.bin = Path(args.bin)
        self.work = work
        self.tokenizer_dir, self.hf_cache = make_tokenizer(work)
        self.venv: dict[str, Path] = {}
        self.not_run: dict[str, str] = {}
        self.versions: dict[str, str] = {}

    def peer_env(self) -> dict:
        env = dict(os.environ)
        env.update(
            HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
            HF_HUB_CACHE=str(self.hf_cache), HF_HOME=str(self.work / "hf-home"),
            HF_HUB_DISABLE_TELEMETRY="1", DO_NOT_TRACK="1", TOKENIZERS_PARALLELISM="false",
            PYTHONUNBUFFERED="1", COLUMNS="160",
        )
        env.pop("VIRTUAL_ENV", None)
        return env


def make_tokenizer(work: Path) -> tuple[Path, Path]:
    """A HF tokenizer directory around the tiny test BPE (tokenizer.json, tokenizer_config.json,
    config.json), also laid out as a local HF cache entry `fleetbench/tiny-bpe` (aiperf 0.13
    loads a tokenizer only from the cache when HF_HUB_OFFLINE is set)."""
    src = REPO / "tests" / "data" / "tokenizer" / "tokenizer.json"
    vocab = len(json.loads(src.read_text())["model"]["vocab"])
    files = {
        "tokenizer_config.json": {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "unk_token": "[UNK]",
            "model_max_length": 1000000,
            "clean_up_tokenization_spaces": False,
        },
        "config.json": {"model_type": "gpt2", "vocab_size": vocab,
                        "bos_token_id": None, "eos_token_id": None},
    }
    tok = work / "tokenizer"
    rev = "0" * 39 + "1"
    cache = work / "hf-cache"
    snap = cache / "models--fleetbench--tiny-bpe" / "snapshots" / rev
    for d in (tok, snap):
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, d / "tokenizer.json")
        for name, body in files.items():
            (d / name).write_text(json.dumps(body, indent=1) + "\n")
    refs = cache / "models--fleetbench--tiny-bpe" / "refs"
    refs.mkdir(parents=True, exist_ok=True)
    (refs / "main").write_text(rev)
    return tok, cache


def p50(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def ground_truth(path: Path) -> dict:
    ttft, gaps = [], []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("first_token_unix_us") is None:
                continue
            ttft.append((r["first_token_unix_us"] - r["arrival_unix_us"]) / 1000.0)
            ts = r["token_unix_us"]
            gaps.extend((b - a) / 1000.0 for a, b in zip(ts, ts[1:]))
    return {"ttft_p50_ms": p50(ttft), "itl_p50_ms": p50(gaps), "requests": len(ttft)}


def run_tool(env: Env, tool: str, w: Workload) -> Result:
    res = Result(tool, w.name)
    if tool in env.not_run:
        res.not_run = env.not_run[tool]
        return res
    d = env.work / f"{w.name}-{tool}"
    d.mkdir(parents=True, exist_ok=True)
    flags = ["--ttft-ms", str(w.ttft_ms), "--itl-ms", str(w.itl_ms), "--framing", w.framing]
    gt = d / "ground-truth.jsonl"
    if w.name == "fidelity":
        flags += ["--ground-truth", str(gt)]
    sim = Sim(env.bin / "sim", env.args.sim_core, flags, d / "sim.log")
    try:
        runner = {"fleetbench": run_fleetbench, "aiperf": run_aiperf, "guidellm": run_guidellm,
                  "inference-perf": run_inference_perf}[tool]
        runner(env, w, sim.addr, d, res)
        tokens, ok, aborted = sim_counters(sim.addr)
        res.sim_tokens, res.sim_requests, res.sim_aborted = tokens, ok, aborted
    finally:
        sim.close()
    if w.name == "fidelity" and gt.exists() and gt.stat().st_size > 0:
        res.truth = ground_truth(gt)
    return res


def supervise(env: Env, res: Result, main: subprocess.Popen, sim_addr: str, timeout: float,
              aux: list[subprocess.Popen] = ()) -> None:
    """Sample `main`'s process tree until it exits (or the time limit stops it)."""
    t0 = time.monotonic()
    sampler = Sampler([main.pid], [a.pid for a in aux], sim_addr)
    sampler.start()
    timed_out, cpu = wait_rusage(main, timeout)
    sampler.stop()
    res.wall_s = time.monotonic() - t0
    if timed_out:
        end_group(main)
        res.note += f"stopped after the {timeout:.0f} s limit; "
    res.whole_cpu_s = cpu
    res.window = steady_window(sampler.samples)
    res.peak_rss_mb, res.peak_pss_mb = sampler.peak_rss / 1024, sampler.peak_pss / 1024
    res.procs = sampler.max_procs
    if main.returncode not in (0, None):
        res.note += f"exit status {main.returncode}; "


def tool_timeout(env: Env, w: Workload) -> float:
    return w.seconds + env.args.startup_allowance


# ---- fleetbench: the real product, one coordinator and one agent


def run_fleetbench(env: Env, w: Workload, addr: str, d: Path, res: Result) -> None:
    profile = d / "profile.yaml"
    profile.write_text(
        f"name: bench-peers-{w.name}\n"
        f"server: {{type: vllm, model_name: sim-model, base_url: 'http://{addr}', ignore_eos: true}}\n"
        "api: {type: completion, streaming: true}\n"
        "data:\n  type: random\n"
        f"  input_distribution: {{min: {w.prompt_tokens}, max: {w.prompt_tokens}, mean: {w.prompt_tokens}, std_dev: 0}}\n"
        f"  output_distribution: {{min: {w.tokens}, max: {w.tokens}, mean: {w.tokens}, std_dev: 0}}\n"
        "load:\n  type: concurrent\n"
        f"  stages: [{{concurrency_level: {w.streams}, duration: {w.seconds:g}}}]\n"
    )
    out = d / "results"
    penv = dict(os.environ)
    coord_cmd = [str(env.bin / "coordinator"), "run", str(profile), "--insecure", "--expect-agents",
                 "1", "--listen", "127.0.0.1:0", "--out", str(out)]
    coord = subprocess.Popen(
        ["taskset", "-c", str(env.args.tool_core), *coord_cmd], stdout=subprocess.PIPE,
        stderr=open(d / "coordinator.log", "w"), text=True, env=penv, cwd=d,
        start_new_session=True,
    )
    LIVE.append(coord)
    line = coord.stdout.readline().strip()
    if not line.startswith("listening on "):
        end_group(coord)
        res.not_run = f"coordinator did not start ({line!r}; {d / 'coordinator.log'})"
        return
    caddr = line.removeprefix("listening on ")
    agent_cmd = [str(env.bin / "agent"), "join", "--coordinator", caddr, "--insecure", "--once",
                 "--name", "bench-peers", "--nvml", "off"]
    res.command = " ".join(["coordinator", *coord_cmd[1:]]) + "  +  " + " ".join(
        ["agent", *agent_cmd[1:]])
    agent = spawn(agent_cmd, env.args.tool_core, d / "agent.log", penv, d)
    supervise(env, res, agent, addr, tool_timeout(env, w), aux=[coord])
    try:
        coord.wait(30)
    except subprocess.TimeoutExpired:
        end_group(coord)
        res.note += "coordinator did not exit; "
    (d / "coordinator.out").write_text(coord.stdout.read())
    if res.window:
        res.note += (f"coordinator (same core, not counted above): "
                     f"{res.window['aux_cpu_s_per_1k_chunks']:.5f} CPU-s per 1k chunks; ")
    reports = sorted(out.glob("*/stage-0/report.json"))
    if not reports:
        res.note += f"no report.json (logs in {d}); "
        return
    m = json.loads(reports[-1].read_text())["metrics"]
    lat = m["latency"]
    res.reported = {
        "ttft_p50_ms": lat["time_to_first_token"]["p50"],
        "itl_p50_ms": lat["inter_token_latency"]["p50"],
        "requests": m["requests"]["total"],
        "failures": m["requests"]["failures"],
        "tokens_per_s": m["throughput"]["output_tokens_per_sec"],
    }


# ---- aiperf


def run_aiperf(env: Env, w: Workload, addr: str, d: Path, res: Result) -> None:
    art = d / "aiperf"
    cmd = [
        str(env.venv["aiperf"] / "bin" / "aiperf"), "profile",
        "--model", "sim-model", "--url", f"http://{addr}", "--endpoint-type", "completions",
        "--streaming", "--concurrency", str(w.streams),
        "--tokenizer", TOKENIZER_ID,
        "--synthetic-input-tokens-mean", str(w.prompt_tokens), "--synthetic-input-tokens-stddev", "0",
        "--output-tokens-mean", str(w.tokens), "--output-tokens-stddev", "0",
        "--extra-inputs", "ignore_eos:true", "--use-legacy-max-tokens", "--use-server-token-count",
        "--benchmark-duration", f"{w.seconds:g}", "--benchmark-grace-period", "10",
        "--random-seed", "42", "--ui-type", "none", "--artifact-dir", str(art),
    ]
    res.command = " ".join(["aiperf", *cmd[1:]])
    p = spawn(cmd, env.args.tool_core, d / "aiperf.log", env.peer_env(), d)
    supervise(env, res, p, addr, tool_timeout(env, w))
    f = art / "profile_export_aiperf.json"
    if not f.exists():
        res.note += f"no {f.name} (log {d / 'aiperf.log'}); "
        return
    j = json.loads(f.read_text())
    res.reported = {
        "ttft_p50_ms": j["time_to_first_token"]["p50"],
        "itl_p50_ms": j["inter_token_latency"]["p50"],
        "requests": j["request_count"]["avg"],
        "tokens_per_s": j["output_token_throughput"]["avg"],
    }


# ---- guidellm


def run_guidellm(env: Env, w: Workload, addr: str, d: Path, res: Result) -> None:
    out = d / "guidellm.json"
    cmd = [
        str(env.venv["guidellm"] / "bin" / "guidellm"), "run",
        "--backend", f"kind=openai_http,target=http://{addr},model=sim-model,request_format=/v1/completions",
        "--profile", f"kind=concurrent,streams={w.streams}",
        "--constraint", f"kind=max_duration,seconds={w.seconds:g}",
        "--tokenizer", f"kind=huggingface_auto,model={env.tokenizer_dir}",
        "--data", f"kind=synthetic_text,prompt_tokens={w.prompt_tokens},output_tokens={w.tokens}",
        "--output", f"kind=json,path={out}",
        "--disable-console-interactive",
    ]
    res.command = " ".join(["guidellm", *cmd[1:]])
    p = spawn(cmd, env.args.tool_core, d / "guidellm.log", env.peer_env(), d)
    supervise(env, res, p, addr, tool_timeout(env, w))
    if not out.exists():
        res.note += f"no {out.name} (log {d / 'guidellm.log'}); "
        return
    b = json.loads(out.read_text())["benchmarks"][0]["metrics"]
    res.reported = {
        "ttft_p50_ms": b["time_to_first_token_ms"]["successful"]["median"],
        "itl_p50_ms": b["inter_token_latency_ms"]["successful"]["median"],
        "requests": b["request_totals"]["successful"],
        "tokens_per_s": b["output_tokens_per_second"]["successful"]["mean"],
        "concurrency_p50": b["request_concurrency"]["successful"]["median"],
    }


# ---- inference-perf


def run_inference_perf(env: Env, w: Workload, addr: str, d: Path, res: Result) -> None:
    # A concurrent stage is a request count, not a duration: sized from the expected rate.
    per_s = env.args.ip_requests_per_s[w.name]
    n = int(per_s * w.seconds)
    out = d / "inference-perf"
    cfg = d / "config.yml"
    cfg.write_text(
        "api: {type: completion, streaming: true}\n"
        f"server: {{type: vllm, model_name: sim-model, base_url: 'http://{addr}', ignore_eos: true}}\n"
        f"tokenizer: {{pretrained_model_name_or_path: '{env.tokenizer_dir}'}}\n"
        "data:\n  type: random\n"
        f"  input_distribution: {{min: {w.prompt_tokens}, max: {w.prompt_tokens}, mean: {w.prompt_tokens}, std_dev: 0, total_count: {n}}}\n"
        f"  output_distribution: {{min: {w.tokens}, max: {w.tokens}, mean: {w.tokens}, std_dev: 0, total_count: {n}}}\n"
        "load:\n  type: concurrent\n"
        f"  stages: [{{num_requests: {n}, concurrency_level: {w.streams}}}]\n"
        f"  num_workers: 2\n  worker_max_concurrency: {(w.streams + 1) // 2}\n  base_seed: 42\n"
        "report:\n  request_lifecycle: {summary: true, per_stage: true, per_request: false}\n"
        f"storage:\n  local_storage: {{path: '{out}'}}\n"
    )
    cmd = [str(env.venv["inference-perf"] / "bin" / "inference-perf"), "-c", str(cfg)]
    res.command = f"inference-perf -c config.yml (load.type concurrent, num_requests {n}, " \
                  f"concurrency_level {w.streams}, num_workers 2, worker_max_concurrency " \
                  f"{(w.streams + 1) // 2})"
    p = spawn(cmd, env.args.tool_core, d / "inference-perf.log", env.peer_env(), d)
    supervise(env, res, p, addr, tool_timeout(env, w))
    f = out / "stage_0_lifecycle_metrics.json"
    if not f.exists():
        res.note += f"no {f.name} (log {d / 'inference-perf.log'}); "
        return
    j = json.loads(f.read_text())
    lat = j["successes"]["latency"]
    res.reported = {
        "ttft_p50_ms": lat["time_to_first_token"]["median"] * 1000.0,
        "itl_p50_ms": lat["inter_token_latency"]["median"] * 1000.0,
        "requests": j["successes"]["count"],
        "tokens_per_s": j["successes"]["throughput"]["output_tokens_per_sec"],
    }


# ------------------------------------------------------------------------------ install


def requirement(tool: str) -> str:
    for line in (HERE / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.split("==")[0] == tool:
            return line
    raise SystemExit(f"{tool} is not pinned in {HERE / 'requirements.txt'}")


def python_version(py: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([py, "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    a, b = out.stdout.split()
    return int(a), int(b)


def find_python(min_minor: int) -> tuple[str | None, list[str]]:
    """A Python 3.<min_minor>+ on this machine: PATH, pyenv's versions, then Debian's package
    python3.<n> (apt-get install, where the archive has one). Returns (path, what was tried)."""
    tried = []
    cands = [shutil.which(f"python3.{m}") for m in range(min_minor, 16)]
    for root in (Path.home() / ".pyenv" / "versions", Path("/usr/local/bin"), Path("/usr/bin")):
        if root.name == "versions" and root.is_dir():
            cands += [str(p / "bin" / "python3") for p in sorted(root.iterdir())]
        else:
            cands += [str(root / f"python3.{m}") for m in range(min_minor, 16)]
    for c in cands:
        if not c or not os.path.exists(c):
            continue
        v = python_version(c)
        tried.append(f"{c}: {v}")
        if v and v >= (3, min_minor):
            return c, tried
    if os.geteuid() == 0 and shutil.which("apt-get"):
        for m in range(min_minor, 16):
            pol = subprocess.run(["apt-cache", "policy", f"python3.{m}"], capture_output=True,
                                 text=True).stdout
            cand = next((ln.split(":", 1)[1].strip() for ln in pol.splitlines()
                         if ln.strip().startswith("Candidate:")), "(none)")
            tried.append(f"Debian python3.{m}: candidate {cand}")
            if cand != "(none)":
                r = subprocess.run(["apt-get", "install", "-y", "-q", f"python3.{m}",
                                    f"python3.{m}-venv"], capture_output=True, text=True)
                if r.returncode == 0 and os.path.exists(f"/usr/bin/python3.{m}"):
                    return f"/usr/bin/python3.{m}", tried
    return None, tried


def ensure_venv(tool: str, python: str, extra_pip: list[str], log) -> Path:
    venv = VENVS / tool
    req = requirement(tool)
    marker = venv / ".bench-peers-ready"
    constraints = HERE / f"constraints-{tool}.txt"
    want = f"{req} {python} {' '.join(extra_pip)}"
    if constraints.exists():
        want += f" {constraints.stat().st_mtime_ns}"
    if marker.exists() and marker.read_text() == want:
        return venv
    log(f"installing {req} into {venv} ({python})")
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["--upgrade", "pip"], check=True)
    cmd = pip + extra_pip + [req]
    if constraints.exists():
        cmd += ["-c", str(constraints)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        text = (r.stderr or "") + (r.stdout or "")
        why = next((ln.strip() for ln in text.splitlines() if "requires Python" in ln),
                   text.strip()[-400:])
        built = re.search(r"pip-install-[^/]+/([A-Za-z0-9_.-]+?)_[0-9a-f]{32}", text)
        if built:  # the dependency whose source build said so
            why = f"building {built.group(1)} from source: {why}"
        raise RuntimeError(f"`pip install {' '.join(extra_pip + [req])}` failed: {why}")
    marker.write_text(want)
    return venv


def installed_version(venv: Path, dist: str) -> str:
    r = subprocess.run([str(venv / "bin" / "python"), "-c",
                        f"import importlib.metadata as m, sys; print(m.version('{dist}'), "
                        "'(Python %d.%d.%d)' % sys.version_info[:3])"],
                       capture_output=True, text=True)
    return r.stdout.strip() or "?"


def smoke(venv: Path, tool: str) -> str | None:
    """None when the tool's CLI starts; else why not."""
    exe = {"aiperf": "aiperf", "guidellm": "guidellm", "inference-perf": "inference-perf"}[tool]
    r = subprocess.run([str(venv / "bin" / exe), "--help"], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["?"]
        return f"`{exe} --help` exits {r.returncode}: {tail[0][:200]}"
    return None


def setup_peers(env: Env, tools: list[str], log) -> None:
    VENVS.mkdir(exist_ok=True)
    for tool in tools:
        if tool == "fleetbench":
            continue
        try:
            if tool == "inference-perf":
                py, tried = find_python(12)
                if py:
                    venv = ensure_venv(tool, py, [], log)
                else:
                    log("no Python >= 3.12 found (" + "; ".join(tried) + "); trying "
                        "--ignore-requires-python on this Python " + platform.python_version())
                    venv = ensure_venv(tool, sys.executable, ["--ignore-requires-python"], log)
            else:
                venv = ensure_venv(tool, sys.executable, [], log)
            why = smoke(venv, tool)
            if why:
                env.not_run[tool] = why
                continue
            env.venv[tool] = venv
            env.versions[tool] = installed_version(venv, tool)
        except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
            env.not_run[tool] = f"install failed: {e}"


# ------------------------------------------------------------------------------ report


def fmt(x, spec: str, na: str = "–") -> str:
    if x is None or (isinstance(x, float) and x != x):
        return na
    return format(x, spec)


def tables(results: list[Result]) -> str:
    by = {(r.tool, r.workload): r for r in results}
    lines = []
    ref = by.get(("fleetbench", "ceiling"))
    refw = ref.window if ref and ref.window else None
    refp = by.get(("fleetbench", "per-event"))
    refpw = refp.window if refp and refp.window else None
    head = ("| tool | chunks/s | CPU-s per 1k chunks | peak RSS MB | requests (sim) | TTFT p50 reported / "
            "truth (error ms) | ITL p50 reported / truth (error ms) | CPU per chunk × fleetbench "
            "| chunks/s × fleetbench | per-event: chunks/s | per-event: CPU-s per 1k chunks "
            "| per-event: CPU per chunk × fleetbench |")
    lines += [head, "|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|"]
    tools = []
    for r in results:
        if r.tool not in tools:
            tools.append(r.tool)
    for tool in tools:
        c, f = by.get((tool, "ceiling")), by.get((tool, "fidelity"))
        pe = by.get((tool, "per-event"))
        if c and c.not_run and (not f or f.not_run):
            lines.append(f"| {tool} | not run: {c.not_run} | | | | | | | | | | |")
            continue
        cw = c.window if c and c.window else None
        chunks = fmt(cw["chunks_per_s"], ",.0f") if cw else "–"
        cpu = fmt(cw["cpu_s_per_1k_chunks"], ".4f") if cw else "–"
        rss = fmt(c.peak_rss_mb, ".0f") if c and not c.not_run else "–"
        reqs = fmt(c.sim_requests, ",d") if c and not c.not_run else "–"
        ttft = itl = "–"
        if f and f.not_run:
            ttft = itl = f"not run: {f.not_run}"
        elif f and f.reported and f.truth:
            e1 = f.reported["ttft_p50_ms"] - f.truth["ttft_p50_ms"]
            e2 = f.reported["itl_p50_ms"] - f.truth["itl_p50_ms"]
            ttft = f"{f.reported['ttft_p50_ms']:.2f} / {f.truth['ttft_p50_ms']:.2f} ({e1:+.2f})"
            itl = f"{f.reported['itl_p50_ms']:.2f} / {f.truth['itl_p50_ms']:.2f} ({e2:+.2f})"
        elif f:
            ttft = itl = "no figure: " + (f.note.strip("; ") or "?")
        rc = rt = "–"
        if cw and refw:
            rc = f"{cw['cpu_s_per_1k_chunks'] / refw['cpu_s_per_1k_chunks']:.1f}×"
            rt = f"{cw['chunks_per_s'] / refw['chunks_per_s']:.3f}×"
        pw = pe.window if pe and pe.window else None
        pchunks = fmt(pw["chunks_per_s"], ",.0f") if pw else "–"
        pcpu = fmt(pw["cpu_s_per_1k_chunks"], ".4f") if pw else "–"
        prc = "–"
        if pw and refpw:
            prc = f"{pw['cpu_s_per_1k_chunks'] / refpw['cpu_s_per_1k_chunks']:.1f}×"
        lines.append(f"| {tool} | {chunks} | {cpu} | {rss} | {reqs} | {ttft} | {itl} | {rc} | {rt} "
                     f"| {pchunks} | {pcpu} | {prc} |")
    lines.append("")
    lines.append("Details per run (window: the steady part of the sim's token count; whole-run "
                 "CPU: the tool's processes from start to exit, start-up and report included):")
    lines.append("")
    lines.append("| workload | tool | window s | chunks in window | chunks/s | CPU-s per 1k chunks "
                 "| tool CPU busy | whole-run CPU-s "
                 "| wall s | peak PSS MB | processes | sim requests | sim aborted | tool's own "
                 "tokens/s | tool's requests | note |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        if r.not_run:
            lines.append(f"| {r.workload} | {r.tool} |{' |' * 13} not run: {r.not_run} |")
            continue
        w = r.window or {}
        lines.append(
            f"| {r.workload} | {r.tool} | {fmt(w.get('window_s'), '.1f')} | "
            f"{fmt(w.get('chunks'), ',d')} | {fmt(w.get('chunks_per_s'), ',.0f')} | "
            f"{fmt(w.get('cpu_s_per_1k_chunks'), '.4f')} | "
            f"{fmt(w.get('cpu_busy', float('nan')) * 100, '.0f')}% | "
            f"{fmt(r.whole_cpu_s, '.1f')} | {r.wall_s:.1f} | {r.peak_pss_mb:.0f} | {r.procs} | "
            f"{r.sim_requests:,} | {r.sim_aborted} | {fmt(r.reported.get('tokens_per_s'), ',.0f')} | "
            f"{fmt(r.reported.get('requests'), ',.0f')} | {r.note.strip('; ')} |"
        )
    return "\n".join(lines)


def commit() -> str:
    r = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                       capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return r.stdout.strip() + (" (work tree has uncommitted changes)" if dirty else "")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", "/var/cache/fleetbench/target"), "release"),
        help="directory with the release sim, coordinator and agent")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--workloads", default="ceiling,per-event,fidelity")
    ap.add_argument("--seconds", type=float, default=15.0, help="load duration per tool and workload")
    ap.add_argument("--streams", type=int, default=256)
    ap.add_argument("--tokens", type=int, default=128, help="output tokens (chunks) per request")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--fidelity-ttft-ms", type=float, default=5.0)
    ap.add_argument("--fidelity-itl-ms", type=float, default=5.0)
    ap.add_argument("--sim-core", type=int, default=0)
    ap.add_argument("--tool-core", type=int, default=1)
    ap.add_argument("--startup-allowance", type=float, default=240.0,
                    help="seconds a tool may take beyond --seconds before it is stopped")
    ap.add_argument("--ip-rate", default="ceiling=150,per-event=150,fidelity=150",
                    help="inference-perf's concurrent stage is a request count: this rate "
                         "(req/s) times --seconds")
    ap.add_argument("--out", default=str(REPO / "results" / "bench-peers"))
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--note", default="", help="a line for the report (e.g. where --bin came from)")
    args = ap.parse_args()
    args.ip_requests_per_s = {k: float(v) for k, v in
                              (kv.split("=") for kv in args.ip_rate.split(","))}
    tools = [t for t in args.tools.split(",") if t]
    for t in tools:
        if t not in TOOLS:
            ap.error(f"unknown tool {t} (one of {', '.join(TOOLS)})")
    known = workloads_of(args)
    workloads = []
    for name in args.workloads.split(","):
        if name not in known:
            ap.error(f"unknown workload {name} (one of {', '.join(known)})")
        if "inference-perf" in tools and name not in args.ip_requests_per_s:
            ap.error(f"--ip-rate names no rate for workload {name}")
        workloads.append(known[name])

    def log(msg: str) -> None:
        print(f"[bench-peers] {msg}", flush=True)

    for b in ("sim", "coordinator", "agent"):
        if not (Path(args.bin) / b).exists():
            ap.error(f"{Path(args.bin) / b} is missing: cargo build --release --workspace --bins")
    if not shutil.which("taskset"):
        ap.error("taskset (util-linux) is needed to pin the sim and the tools")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    try:
        return run_all(args, tools, workloads, work, log)
    finally:
        for p in LIVE:
            end_group(p)
        if args.keep:
            print(f"scratch kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def workloads_of(args) -> dict[str, Workload]:
    """Every workload by name, as the command line sets it."""
    shape = (args.seconds, args.streams, args.tokens, args.prompt_tokens)
    return {
        "ceiling": Workload("ceiling", 0.0, 0.0, *shape),
        "per-event": Workload("per-event", 0.0, 0.0, *shape, framing="per-event"),
        "fidelity": Workload("fidelity", args.fidelity_ttft_ms, args.fidelity_itl_ms, *shape),
    }


def run_all(args, tools: list[str], workloads: list[Workload], work: Path, log) -> int:
    env = Env(args, work)
    setup_peers(env, tools, log)
    for t, why in env.not_run.items():
        log(f"{t}: not run: {why}")
    fb = subprocess.run([str(Path(args.bin) / "agent"), "--version"], capture_output=True, text=True)
    env.versions["fleetbench"] = (fb.stdout.strip().split() or ["?"])[-1] + f" (commit {commit()})"

    started = dt.datetime.now(dt.timezone.utc)
    load0 = os.getloadavg()
    results = []
    for w in workloads:
        for tool in tools:
            log(f"{w.name}: {tool} ...")
            r = run_tool(env, tool, w)
            results.append(r)
            if r.not_run:
                log(f"{w.name}: {tool}: not run: {r.not_run}")
            else:
                cw = r.window or {}
                log(f"{w.name}: {tool}: {fmt(cw.get('chunks_per_s'), ',.0f')} chunks/s, "
                    f"{fmt(cw.get('cpu_s_per_1k_chunks'), '.4f')} CPU-s/1k chunks, peak RSS "
                    f"{r.peak_rss_mb:.0f} MB, reported TTFT p50 "
                    f"{fmt(r.reported.get('ttft_p50_ms'), '.2f')} ms (truth "
                    f"{fmt(r.truth.get('ttft_p50_ms'), '.2f')}) {r.note}")

    table = tables(results)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    load = os.getloadavg()
    header = [
        f"# bench-peers {stamp}",
        "",
        f"- commit {commit()}; machine: {os.cpu_count()} cores, {cpu_model()}; load average "
        f"(1, 5, 15 min) at the start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, at the end "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"- command: `{' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])}`",
        f"- workloads: {args.streams} concurrent streams (closed loop), {args.prompt_tokens}-token "
        f"prompts, {args.tokens}-token streamed completions, {args.seconds:g} s per tool; ceiling: "
        f"zero-delay sim, a whole response in one HTTP chunk; per-event: zero-delay sim, one "
        f"HTTP chunk and TCP segment per event; fidelity: sim TTFT {args.fidelity_ttft_ms:g} ms, "
        f"{args.fidelity_itl_ms:g} ms between tokens, ground truth from `--ground-truth`",
        f"- pinning: sim on core {args.sim_core}, the tool's processes on core {args.tool_core}",
        *([f"- note: {args.note}"] if args.note else []),
        "- versions: " + "; ".join(f"{k} {v}" for k, v in env.versions.items()),
        "",
        "Chunks/s, CPU, RSS and requests from the ceiling run (batched framing); the per-event "
        "columns from the per-event run; TTFT/ITL from the fidelity run (per-event framing, paced).",
        "",
        "",
    ]
    cmds = ["", "Commands (per workload, addresses and paths vary):", ""]
    for r in results:
        if r.command:
            c = r.command.replace(str(work), "$WORK")
            cmds.append(f"- {r.workload} / {r.tool}: `{c}`")
    text = "\n".join(header) + table + "\n" + "\n".join(cmds) + "\n"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stamp}.md").write_text(text)
    (out / f"{stamp}.json").write_text(json.dumps(
        [r.__dict__ for r in results], indent=1, default=str) + "\n")
    print()
    print(text)
    print(f"written: {out / (stamp + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
