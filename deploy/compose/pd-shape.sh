#!/usr/bin/env bash
# The reconfigure command of a P:D sweep on the compose deployment (pd-sweep.yaml): deploys
# PREFILL prefill hosts and DECODE decode hosts (1 or 2 each; prefill-<k>, decode-<k>), each with
# its agent, the P/D proxy in front of exactly those (recreated when its upstreams change) and the
# client host, with compose.sweep.yaml over compose.yaml; removes the hosts the shape no longer
# has. Hosts the shape keeps, and their agents, keep running.
#
#   deploy/compose/pd-shape.sh PREFILL DECODE
#
# Environment: FLEETBENCH_COORDINATOR (HOST:PORT, set by `coordinator sweep`), FLEETBENCH_NETWORK
# (the existing network the coordinator listens on), COMPOSE_PROJECT_NAME (default
# fleetbench-sweep), FLEETBENCH_IMAGE (default fleetbench:latest), FLEETBENCH_PROXY_PORT.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
p=${1:-} d=${2:-}
for v in "$p" "$d"; do
  case "$v" in 1|2) ;; *) echo "pd-shape.sh: PREFILL and DECODE are 1 or 2 (got '$p' '$d')" >&2; exit 2 ;; esac
done
[ -n "${FLEETBENCH_COORDINATOR:-}" ] \
  || { echo "pd-shape.sh: FLEETBENCH_COORDINATOR is not set (coordinator sweep sets it)" >&2; exit 2; }
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
compose+=(-f "$here/compose.yaml" -f "$here/compose.sweep.yaml" -p "${COMPOSE_PROJECT_NAME:-fleetbench-sweep}")
# Every host of the `scale` profile may be named.
export COMPOSE_PROFILES=scale

agent_of() { if [ "$2" = 0 ]; then echo "$1-agent"; else echo "$1-agent-$2"; fi; }
hosts=() agents=() gone_hosts=() gone_agents=() pre=() dec=()
for k in 0 1; do
  for role in prefill decode; do
    if [ "$role" = prefill ]; then n=$p; port=8100; else n=$d; port=8200; fi
    if [ "$k" -lt "$n" ]; then
      hosts+=("$role-$k"); agents+=("$(agent_of "$role" "$k")")
      if [ "$role" = prefill ]; then pre+=("http://$role-$k:$port"); else dec+=("http://$role-$k:$port"); fi
    else
      gone_hosts+=("$role-$k"); gone_agents+=("$(agent_of "$role" "$k")")
    fi
  done
done
export FLEETBENCH_PREFILL_URLS="${pre[*]}" FLEETBENCH_DECODE_URLS="${dec[*]}"

echo "shape ${p}P:${d}D: hosts ${hosts[*]}; removing ${gone_hosts[*]:-nothing}"
if [ ${#gone_hosts[@]} -gt 0 ]; then
  # An agent before the host whose network it shares.
  "${compose[@]}" rm -s -f "${gone_agents[@]}"
  "${compose[@]}" rm -s -f "${gone_hosts[@]}"
fi
"${compose[@]}" up -d --no-deps --no-build "${hosts[@]}"
"${compose[@]}" up -d --no-deps --no-build "${agents[@]}" proxy client-0
