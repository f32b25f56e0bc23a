#!/usr/bin/env bash
# ADR 0002's measurement: the same endpoint on three stacks, server pinned to cpu1, wrk to cpu0,
# rounds interleaved, median req/s per stack. Usage: bench/http_stack/run.sh [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}; seconds=${2:-5}; port=18765
declare -A results
for round in $(seq 1 "$rounds"); do
  for stack in raw ours starlette; do
    STACK=$stack PYTHONPATH=bench/http_stack taskset -c 1 uv run --with starlette --quiet \
      uvicorn apps:app --factory --port $port --loop uvloop --http httptools \
      --no-access-log --log-level warning &
    server=$!
    until curl -sf "http://127.0.0.1:$port/users/1" >/dev/null; do sleep 0.1; done
    rps=$(taskset -c 0 wrk -t1 -c50 -d"${seconds}s" -s bench/http_stack/users.lua \
      "http://127.0.0.1:$port" | awk '/Requests\/sec/ {print $2}')
    kill "$server"; wait "$server" 2>/dev/null || true
    results[$stack]+="$rps "
    echo "round $round $stack $rps"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
raw=$(echo "${results[raw]}" | median)
echo; echo "| stack | req/s (median of $rounds) | x raw ASGI |"; echo "|---|---:|---:|"
for stack in raw ours starlette; do
  m=$(echo "${results[$stack]}" | median)
  echo "| $stack | $m | $(awk -v a="$m" -v b="$raw" 'BEGIN {printf "%.2f", a/b}') |"
done
