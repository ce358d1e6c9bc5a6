#!/usr/bin/env python3
"""Loads a run's summary.json the way docs/summary-table.md promise it loads,
with pandas' ``pd.DataFrame.from_dict(d["serving"])``, and checks the columns and every value
against the stage reports (stage-<k>/report.json) of the same run directory.

Usage: scripts/check_summary.py RUN_DIR      (exit 0 when everything matches)
"""

import json
import math
import pathlib
import sys

import pandas as pd

# vLLM's convert-results-json-to-markdown.py serving columns, in its order. A column no stage
# knows is left out (as that script drops them); the others are always there. Goodput comes
# last, only when some stage had `report.goodput` constraints.
VLLM_COLUMNS = [
    "Test name", "Model", "Dataset Name", "Input Len", "Output Len", "TP Size", "PP Size",
    "dtype", "GPU", "# of req.", "qps", "# of max concurrency.", "Tput (req/s)",
    "Total Token Tput (tok/s)", "Output Tput (tok/s)", "Mean TTFT (ms)", "Median TTFT (ms)",
    "P99 TTFT (ms)", "STD TTFT (ms)", "Mean TPOT (ms)", "Median", "P99", "STD TPOT (ms)",
    "Mean ITL (ms)", "Median ITL (ms)", "P99 ITL (ms)", "Goodput (req/s)",
]
ALWAYS = [
    "Test name", "Model", "GPU", "# of req.", "Tput (req/s)", "Total Token Tput (tok/s)",
    "Output Tput (tok/s)", "Mean TTFT (ms)", "Median TTFT (ms)", "P99 TTFT (ms)",
    "STD TTFT (ms)", "Mean TPOT (ms)", "Median", "P99", "STD TPOT (ms)", "Mean ITL (ms)",
    "Median ITL (ms)", "P99 ITL (ms)",
]
NUMERIC = [c for c in ALWAYS if c not in ("Test name", "Model", "GPU")]


def stat(report, key, pick):
    s = report["metrics"]["latency"].get(key)
    if s is None:
        return 0.0
    v = s.get(pick)
    return 0.0 if v is None else v


def expected_row(profile, report):
    m = report["metrics"]
    t = m["throughput"]
    label = report["scenario"]["load"].get("metadata", {}).get("stage_label", "stage")
    ok = m["requests"]["total"] - (m["requests"].get("failures") or 0)
    ttft, tpot, itl = "time_to_first_token", "time_per_output_token", "inter_token_latency"
    row = {
        "Test name": f"{profile}_{label}",
        "Model": report["scenario"]["model"]["name"],
        "# of req.": ok,
        "Tput (req/s)": t.get("requests_per_sec") or 0.0,
        "Output Tput (tok/s)": t.get("output_tokens_per_sec") or 0.0,
        "Total Token Tput (tok/s)": t["total_tokens_per_sec"],
        "Mean TTFT (ms)": stat(report, ttft, "mean"),
        "Median TTFT (ms)": stat(report, ttft, "p50"),
        "P99 TTFT (ms)": stat(report, ttft, "p99"),
        "STD TTFT (ms)": stat(report, ttft, "stddev"),
        "Mean TPOT (ms)": stat(report, tpot, "mean"),
        "Median": stat(report, tpot, "p50"),
        "P99": stat(report, tpot, "p99"),
        "STD TPOT (ms)": stat(report, tpot, "stddev"),
        "Mean ITL (ms)": stat(report, itl, "mean"),
        "Median ITL (ms)": stat(report, itl, "p50"),
        "P99 ITL (ms)": stat(report, itl, "p99"),
    }
    goodput = (m.get("metadata") or {}).get("goodput")
    if goodput is not None:
        row["Goodput (req/s)"] = goodput["requests_per_sec"]
    return row


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    run = pathlib.Path(argv[1])
    with open(run / "summary.json") as f:
        d = json.load(f)
    assert set(d) >= {"latency", "throughput", "serving"}, f"top-level keys {list(d)}"
    df = pd.DataFrame.from_dict(d["serving"])
    problems = []
    cols = list(df.columns)
    if [c for c in VLLM_COLUMNS if c in cols] != cols:
        problems.append(f"columns {cols} are not vLLM's, in its order: {VLLM_COLUMNS}")
    missing = [c for c in ALWAYS if c not in cols]
    if missing:
        problems.append(f"columns {missing} are missing")

    stages = sorted(
        (int(p.name.split("-", 1)[1]), p)
        for p in run.glob("stage-*")
        if (p / "report.json").is_file()
    )
    if len(df) != len(stages):
        problems.append(f"{len(df)} rows for {len(stages)} stage reports")
    plan = json.loads((run / "plan.json").read_text()) if (run / "plan.json").is_file() else {}
    for col in NUMERIC:
        if col in df.columns and not pd.api.types.is_numeric_dtype(df[col]):
            problems.append(f"column {col!r} is not numeric: {df[col].dtype}")

    for i, (k, path) in enumerate(stages):
        report = json.loads((path / "report.json").read_text())
        profile = plan.get("profile_name") or report["scenario"]["load"]["metadata"]["profile"]
        want = expected_row(profile, report)
        row = df.iloc[i] if i < len(df) else None
        if row is None:
            continue
        for col, v in want.items():
            got = row[col]
            if isinstance(v, str):
                if got != v:
                    problems.append(f"stage {k} {col!r}: {got!r} != {v!r}")
            # The table rounds to 2 decimals (half away from zero, as Rust's f64::round).
            elif not math.isclose(float(got), float(v), abs_tol=0.0051):
                problems.append(f"stage {k} {col!r}: {got} != {v} (stage report)")
        accs = report["scenario"]["host"]["accelerator"]
        if all(a["count"] == 0 for a in accs) and any(a["model"] == "sim" for a in accs):
            if row["GPU"] != "sim":
                problems.append(f"stage {k} GPU {row['GPU']!r} != 'sim'")
        elif not isinstance(row["GPU"], str) or not row["GPU"]:
            problems.append(f"stage {k} GPU {row['GPU']!r} is empty")

    if problems:
        for p in problems:
            print(f"check_summary: {p}", file=sys.stderr)
        return 1
    print(f"check_summary: {run}: {len(df)} rows x {len(df.columns)} columns match the stage reports")
    print(df.to_string(max_colwidth=24))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
