#!/usr/bin/env bash
# Interleaved A/B of two server builds over the rows of the performance
# matrix (issue 19), as BENCHMARKS.md reports them:
#
#   fs store, audit off:  generate h1 c16, decrypt h1 c16, generate h2 4×4,
#                         generate h1 c256, handshake c16 (new mTLS connection
#                         per request)
#   --dev, audit on:      generate h2 1×16 (kms-go's shape: one HTTP/2
#                         connection, 16 workers), generate h1 c16
#
#   scripts/ab.sh BASE_BIN_DIR HEAD_BIN_DIR [rounds (3)] [rows (all)]
#
# Each *_BIN_DIR holds a release `kes`; HEAD_BIN_DIR also the `kes-bench`
# used against both (one client for both sides). ROWS picks rows by label
# substring, e.g. "generate h1 c16|decrypt". N (50000) requests per row,
# HS (5000) per handshake row, PORT (7390). Servers are stopped by PID.
# Prints one line per run and writes them as JSON lines to $OUT/ab.jsonl.
set -euo pipefail
# shellcheck source=certs.sh
source "$(dirname "${BASH_SOURCE[0]}")/certs.sh"
BASE=$(cd "$1" && pwd) HEAD=$(cd "$2" && pwd)
ROUNDS=${3:-3}
ROWS=${4:-.}
N=${N:-50000} HS=${HS:-5000} PORT=${PORT:-7390}
OUT=${OUT:-$(mktemp -d /tmp/kes-ab.XXXX)}
BENCH=$HEAD/kes-bench
URL=https://127.0.0.1:$PORT
PID=
trap '[[ -n $PID ]] && kill $PID 2>/dev/null; wait 2>/dev/null || true' EXIT

ADMIN=$(bench_certs "$OUT/fs")

stop() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=; }

ready() {
    for _ in $(seq 100); do
        "$BENCH" --server "$URL" --insecure "${AUTH[@]}" -w generate -c 1 -n 1 >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "server did not answer: $(cat "$OUT/server.log")" >&2
    exit 1
}

start_fs() { # bin
    rm -rf "$OUT/fs/keys" && mkdir -p "$OUT/fs/keys"
    cat > "$OUT/fs/config.yml" <<EOF
address: 127.0.0.1:$PORT
admin: { identity: $ADMIN }
tls: { key: $OUT/fs/server.key, cert: $OUT/fs/server.crt }
log: { error: on, audit: off }
keystore: { fs: { path: $OUT/fs/keys } }
EOF
    "$1/kes" server --config "$OUT/fs/config.yml" > "$OUT/server.log" 2>&1 &
    PID=$!
    AUTH=(--cert "$OUT/fs/client.crt" --key "$OUT/fs/client.key")
    ready
}

start_dev() { # bin
    "$1/kes" server --dev --addr "127.0.0.1:$PORT" > "$OUT/server.log" 2>&1 &
    PID=$!
    local key=
    for _ in $(seq 100); do
        key=$(grep -o 'kes:v1:[A-Za-z0-9+/=]*' "$OUT/server.log" | head -1 || true)
        [[ -n $key ]] && break
        sleep 0.1
    done
    AUTH=(--api-key "$key")
    ready
}

row() { # side label args...
    local side=$1 label=$2
    shift 2
    [[ $label =~ $ROWS ]] || return 0
    local json
    json=$("$BENCH" --server "$URL" --insecure "${AUTH[@]}" --server-pid "$PID" --json "$@")
    echo "{\"side\":\"$side\",\"row\":\"$label\",\"result\":$json}" >> "$OUT/ab.jsonl"
    echo "$json" | jq -r --arg s "$side" --arg l "$label" \
        '"\($s)\t\($l)\t\(.requests_per_second | floor) req/s\tp50 \(.latency_ms.p50)\tp99 \(.latency_ms.p99) ms\t\(.server.cpu_us_per_request) µs CPU/req\terrors \(.errors)"'
}

side() { # name bin
    local s=$1 bin=$2
    start_fs "$bin"
    sleep 0.5
    echo "{\"side\":\"$s\",\"row\":\"idle rss\",\"rss_kib\":$(awk '/^VmRSS/ { print $2 }' /proc/$PID/status)}" >> "$OUT/ab.jsonl"
    row "$s" "generate h1 c16" -w generate -c 16 -n "$N"
    row "$s" "decrypt h1 c16" -w decrypt --context '{}' -c 16 -n "$N"
    row "$s" "generate h2 4x4" -w generate --http2 -c 4 -p 4 -n "$N"
    row "$s" "generate h1 c256" -w generate -c 256 -n "$N"
    row "$s" "handshake c16" -w handshake -c 16 -n "$HS"
    stop
    start_dev "$bin"
    row "$s" "dev audit-on generate h2 1x16" -w generate --http2 -c 1 -p 16 -n "$N"
    row "$s" "dev audit-on generate h1 c16" -w generate -c 16 -n "$N"
    stop
}

echo "results in $OUT/ab.jsonl"
for r in $(seq "$ROUNDS"); do
    echo "== round $r (load $(cut -d' ' -f1-3 /proc/loadavg))"
    side base "$BASE"
    side head "$HEAD"
done
# Per row and side: median µs CPU/req and req/s over the rounds.
jq -rs 'map(select(.result)) | group_by(.row)[] | group_by(.side)[] |
    "\(.[0].row)\t\(.[0].side)\tmedian \([.[].result.server.cpu_us_per_request] | sort | .[length/2|floor]) µs/req\t\([.[].result.requests_per_second] | sort | .[length/2|floor] | floor) req/s"' "$OUT/ab.jsonl"
