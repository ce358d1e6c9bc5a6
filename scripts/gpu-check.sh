#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build the agent and sample the accelerators through real NVML
# for 10 s (`agent probe --nvml on`), printing the inventory and the statistics as JSON. Fails
# when NVML cannot be used. CI never runs this: it has no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/fleetbench/target}
cargo build --release -p fleetbench-agent --bin agent
nvidia-smi --query-gpu=index,name,memory.total,power.draw,utilization.gpu --format=csv 2>/dev/null || true
"$CARGO_TARGET_DIR/release/agent" probe --nvml on --seconds "${SECONDS_TO_SAMPLE:-10}" "$@"
