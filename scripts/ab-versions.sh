#!/usr/bin/env bash
# Interleaved A/B of the DEK hot path before/after key versions
# (docs/key-versions.md): generate h1 c16 with kes-bench against
# `kes server --dev` (audit on), on a never-rotated key for BASE and HEAD,
# and on a key rotated 3 times (HEAD only: BASE has no rotation), plus
# decrypt of the latest version's ciphertext on that rotated key. Rounds
# alternate so that machine load hits every side alike.
# Usage: scripts/ab-versions.sh BASE_DIR HEAD_DIR [ROUNDS] — each DIR holds
# `kes` (built `--release -p kes --no-default-features`); kes-bench is HEAD's.
set -u
BASE=$1 HEAD=$2 ROUNDS=${3:-3} N=${N:-100000}
run() { # bin-dir label port workload rotations
  local d=$1 label=$2 port=$3 wl=$4 rot=$5 log=/tmp/ab-versions-$2.log key=
  "$d/kes" server --dev --addr 127.0.0.1:"$port" > "$log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do grep -q 'kes:v1:' "$log" && break; sleep 0.1; done
  sleep 1 # the banner line is complete by now
  key=$(grep -o 'kes:v1:[A-Za-z0-9+/=]*' "$log" | head -1)
  if (( rot > 0 )); then
    KES_SERVER=127.0.0.1:$port KES_API_KEY=$key "$HEAD/kes" key create -k bench-key
    for _ in $(seq "$rot"); do
      KES_SERVER=127.0.0.1:$port KES_API_KEY=$key "$HEAD/kes" key rotate -k bench-key > /dev/null
    done
  fi
  local extra=()
  [[ $wl != generate ]] && extra=(--context '{}')
  out=$("$HEAD/kes-bench" --server https://127.0.0.1:"$port" --insecure --api-key "$key" \
    --server-pid "$pid" --json -w "$wl" "${extra[@]}" -c 16 -n "$N")
  echo "$label $wl: $(echo "$out" | jq -r '"\(.requests_per_second|floor) req/s  p50 \(.latency_ms.p50) p99 \(.latency_ms.p99) ms  \(.server.cpu_us_per_request) µs CPU/req  errors \(.errors)"')  load $(cut -d' ' -f1 /proc/loadavg)"
  kill "$pid"; wait "$pid" 2>/dev/null
}
for r in $(seq "$ROUNDS"); do
  run "$BASE" base 7411 generate 0
  run "$HEAD" head 7412 generate 0
  run "$HEAD" head-rotated 7413 generate 3
  run "$BASE" base 7414 decrypt 0
  run "$HEAD" head 7415 decrypt 0
  run "$HEAD" head-rotated 7416 decrypt 3
done
