#!/usr/bin/env bash
# (Re)starts a simulated P/D deployment on loopback: N prefill and M decode `sim serve`
# instances on free ports, `sim proxy` in front of them on the given port, and (with
# --coordinator) one agent per instance (role prefill or decode, scraping its instance's
# /metrics). Whatever an earlier `start` with the same --state left running is stopped first,
# so `coordinator sweep` can use it as a reconfigure command:
#
#   scripts/sim-pd.sh start --state DIR --port 8000 --prefill 2 --decode 1 \
#       [--coordinator 127.0.0.1:7600 --agent-args '--insecure'] [--bin DIR] \
#       [--kv-transfer-us-per-token 2] [-- EXTRA SIM SERVE FLAGS]
#   scripts/sim-pd.sh stop --state DIR
#
# DIR keeps the process ids (pids), the logs and the generation number that names the agents
# (g<gen>-prefill-<k>, g<gen>-decode-<k>; a fresh name per start, so a new agent is never
# refused while the coordinator still holds its predecessor's stream). Only processes listed
# in DIR/pids are ever stopped. Binaries come from --bin (default: $CARGO_TARGET_DIR/debug,
# else /var/cache/fleetbench/target/debug).
set -euo pipefail

usage() { sed -n '2,19p' "$0" >&2; exit 2; }

cmd=${1:-}; [ $# -gt 0 ] && shift
state= port= prefill= decode= coordinator= agent_args= kv=2
bin=${CARGO_TARGET_DIR:-/var/cache/fleetbench/target}/debug
sim_flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --state) state=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --prefill) prefill=$2; shift 2 ;;
    --decode) decode=$2; shift 2 ;;
    --coordinator) coordinator=$2; shift 2 ;;
    --agent-args) agent_args=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --kv-transfer-us-per-token) kv=$2; shift 2 ;;
    --) shift; sim_flags=("$@"); break ;;
    *) echo "sim-pd.sh: unknown argument $1" >&2; usage ;;
  esac
done
[ -n "$state" ] || { echo "sim-pd.sh: --state DIR is required" >&2; usage; }
mkdir -p "$state"

count() { # NAME VALUE: a count from 1 to 16
  case "$2" in ''|*[!0-9]*) echo "sim-pd.sh: --$1 $2: expected a count from 1 to 16" >&2; exit 2 ;; esac
  if [ "$2" -lt 1 ] || [ "$2" -gt 16 ]; then echo "sim-pd.sh: --$1 $2: expected a count from 1 to 16" >&2; exit 2; fi
}

stop_all() {
  [ -f "$state/pids" ] || return 0
  local pids; pids=$(cat "$state/pids")
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=0
    for p in $pids; do if kill -0 "$p" 2>/dev/null; then alive=1; fi; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
  rm -f "$state/pids"
}

first_line_addr() { # FILE: wait for "listening on ADDR" and print ADDR
  for _ in $(seq 1 100); do
    if [ -s "$1" ]; then
      local a; a=$(awk 'NR==1 && /^listening on / {print $3; exit}' "$1")
      if [ -n "$a" ]; then echo "$a"; return; fi
    fi
    sleep 0.1
  done
  echo "sim-pd.sh: no 'listening on' line in $1" >&2; exit 1
}

start_bg() { # NAME CMD...: start in the background, output to $state/NAME.{out,log}
  local name=$1; shift
  "$@" </dev/null >"$state/$name.out" 2>"$state/$name.log" &
  echo $! >>"$state/pids"
}

case "$cmd" in
  stop) stop_all; echo "stopped" ;;
  start)
    count prefill "$prefill"; count decode "$decode"
    case "$port" in ''|*[!0-9]*) echo "sim-pd.sh: --port PORT is required" >&2; exit 2 ;; esac
    stop_all
    gen=$(( $(cat "$state/generation" 2>/dev/null || echo 0) + 1 ))
    echo "$gen" >"$state/generation"
    proxy_args=()
    for role in prefill decode; do
      n=$prefill; [ "$role" = decode ] && n=$decode
      for k in $(seq 0 $((n - 1))); do
        name=g$gen-$role-$k
        start_bg "$name" "$bin/sim" serve --listen 127.0.0.1:0 --role "$role" "${sim_flags[@]}"
        addr=$(first_line_addr "$state/$name.out")
        proxy_args+=(--"$role" "http://$addr")
        if [ -n "$coordinator" ]; then
          # shellcheck disable=SC2086 # agent_args is a list of flags
          start_bg "$name-agent" "$bin/agent" join --coordinator "$coordinator" --name "$name" \
            --role "$role" --engine-metrics "http://$addr/metrics" $agent_args
        fi
        echo "$role $k: $addr"
      done
    done
    start_bg "g$gen-proxy" "$bin/sim" proxy --listen "127.0.0.1:$port" "${proxy_args[@]}" \
      --kv-transfer-us-per-token "$kv"
    addr=$(first_line_addr "$state/g$gen-proxy.out")
    echo "proxy: $addr ($prefill prefill, $decode decode)"
    ;;
  *) usage ;;
esac
