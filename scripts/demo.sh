#!/usr/bin/env bash
# The demo: a simulated engine, a coordinator and two agents, all on loopback, run
# profiles/quickstart.yaml end to end; prints the summary table and where the report is, and
# stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-${CARGO_TARGET_DIR:-/var/cache/fleetbench/target}/debug}
logs=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

first_line_addr() { # FILE: wait for "listening on ADDR" and print ADDR
  for _ in $(seq 1 100); do
    if [ -s "$1" ]; then awk 'NR==1 && /^listening on / {print $3; exit}' "$1"; return; fi
    sleep 0.1
  done
  echo "no address in $1" >&2; exit 1
}

echo "== starting the simulated engine (8B model on one H100, engine mode)"
"$BIN/sim" serve --listen 127.0.0.1:0 >"$logs/sim.out" 2>"$logs/sim.log" &
pids+=($!)
sim=$(first_line_addr "$logs/sim.out")
echo "   sim on $sim"
export FLEETBENCH_ENDPOINT="http://$sim"

echo "== starting the coordinator (one-shot run of profiles/quickstart.yaml, waits for 2 agents)"
"$BIN/coordinator" run profiles/quickstart.yaml --expect-agents 2 --listen 127.0.0.1:0 --insecure --out results \
  >"$logs/coordinator.out" 2> >(tee "$logs/coordinator.log" | grep --line-buffered -E '^\[|ERROR|stage .* done' >&2) &
coord_pid=$!
pids+=($coord_pid)
coord=$(first_line_addr "$logs/coordinator.out")
echo "   coordinator on $coord"

echo "== starting two agents"
for name in agent-1 agent-2; do
  "$BIN/agent" join --coordinator "$coord" --insecure --once --name "$name" --role client 2>"$logs/$name.log" &
  pids+=($!)
done

if ! wait "$coord_pid"; then
  echo "the run failed; logs in $logs" >&2
  tail -20 "$logs/coordinator.log" >&2
  exit 1
fi
echo
tail -n +2 "$logs/coordinator.out"
echo "logs: $logs"
