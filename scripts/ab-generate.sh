#!/usr/bin/env bash
# Interleaved A/B of two builds: generate h1 c16 and h2 c16 (kes-bench, 100,000
# requests) against `kes server --dev` (audit on), three rounds.
# Usage: scripts/ab-generate.sh BASE_CHECKOUT HEAD_CHECKOUT (each with target/release/{kes,kes-bench} built).
set -u
run() { # dir label port
  local d=$1 label=$2 port=$3 log=/tmp/ab-$2.log
  $d/target/release/kes server --dev --addr 127.0.0.1:$port > $log 2>&1 &
  local pid=$!
  local key=
  for _ in $(seq 100); do key=$(grep -o 'kes:v1:[A-Za-z0-9+/=]*' $log | head -1); [[ -n $key ]] && break; sleep 0.1; done
  sleep 1
  for mode in "" "--http2"; do
    out=$($d/target/release/kes-bench --server https://127.0.0.1:$port --insecure --api-key "$key" --server-pid $pid --json -w generate -c 16 -n 100000 $mode)
    echo "$label ${mode:-h1}: $(echo "$out" | jq -r '"\(.requests_per_second|floor) req/s  p50 \(.latency_ms.p50) p99 \(.latency_ms.p99) ms  \(.server.cpu_us_per_request) µs CPU/req errors \(.errors)"')"
  done
  kill $pid; wait $pid 2>/dev/null
}
for r in 1 2 3; do
  run "$1" base 7401
  run "$2" head 7402
done
