#!/usr/bin/env bash
# `make demo-cluster`: the disaggregated deployment of deploy/compose/ in containers (coordinator,
# prefill host, decode host, P/D proxy, client host, each with its own address), runs
# deploy/compose/pd-profile.yaml on it, prints the summary, and removes every container and
# network it made.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v docker >/dev/null || { echo "demo-cluster needs a Docker Engine with Compose" >&2; exit 1; }
export FLEETBENCH_IMAGE=${FLEETBENCH_IMAGE:-fleetbench:latest}
export FLEETBENCH_PROJECT=${FLEETBENCH_PROJECT:-fleetbench-demo-$$}
export FLEETBENCH_RESULTS=${FLEETBENCH_RESULTS:-$PWD/results/cluster}
export FLEETBENCH_UID=$(id -u) FLEETBENCH_GID=$(id -g)
mkdir -p "$FLEETBENCH_RESULTS"
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
compose+=(-f deploy/compose/compose.yaml -p "$FLEETBENCH_PROJECT")
cleanup() { "${compose[@]}" down --volumes --remove-orphans --timeout 2 >/dev/null 2>&1 || true; }
trap cleanup EXIT

before=$(ls "$FLEETBENCH_RESULTS")
echo "== starting the deployment ($FLEETBENCH_PROJECT, image $FLEETBENCH_IMAGE)"
"${compose[@]}" up -d --no-build >/dev/null 2>&1 || { "${compose[@]}" up -d --no-build; exit 1; }
coord=$("${compose[@]}" ps -q coordinator)
echo "== running deploy/compose/pd-profile.yaml (coordinator run, 3 agents on 3 hosts)"
code=$(timeout 300 docker wait "$coord")
if [ "$code" != 0 ]; then
  echo "the run failed (exit $code); coordinator log:" >&2
  "${compose[@]}" logs --no-log-prefix coordinator | tail -30 >&2
  exit 1
fi
run=$(comm -13 <(echo "$before") <(ls "$FLEETBENCH_RESULTS") | tail -1)
echo
cat "$FLEETBENCH_RESULTS/$run/SUMMARY.txt"
echo "report: $FLEETBENCH_RESULTS/$run/"
