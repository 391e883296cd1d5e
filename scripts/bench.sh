#!/usr/bin/env bash
# Reproduces the figures in BENCHMARKS.md: starts `kes server` on 127.0.0.1
# (in-memory store via --dev, fs store via a config file, audit log off/on),
# drives it with kes-bench and oha, records RSS, and prints a markdown table.
#
#   scripts/bench.sh [out-dir]                 # default target/bench
#
# Environment knobs (defaults in brackets):
#   PORT [7373]  N [50000] requests per run   KEYS [100000] keys for the fs RSS run
#   STORES ["mem fs pinned"]  OHA [oha]  QUIET [1.5] wait (at most 5 min) for load average below it
#   SOAK [600] seconds of the RSS-growth run (STORES=soak; minio mix, 16 connections)
#   "pinned": handshake rows with the server on CPU 0 and kes-bench (one thread) on
#   CPU 1 (taskset), so the figure is not the VM's cross-CPU wake-up noise.
#   SKIP_BUILD [0]
# Every server is stopped by PID on exit. Nothing listens beyond 127.0.0.1.
set -euo pipefail
# shellcheck source=certs.sh
source "$(dirname "${BASH_SOURCE[0]}")/certs.sh"
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$(mkdir -p "${1:-target/bench}" && cd "${1:-target/bench}" && pwd)
PORT=${PORT:-7373}
N=${N:-50000}
KEYS=${KEYS:-100000}
STORES=${STORES:-"mem fs pinned"}
OHA=${OHA:-oha}
QUIET=${QUIET:-1.5}
SOAK=${SOAK:-600}
URL=https://127.0.0.1:$PORT
KES=$ROOT/target/release/kes
BENCH=$ROOT/target/release/kes-bench
RESULTS=$OUT/results.jsonl
SERVER_PID=
PIN_SERVER= PIN_CLIENT=

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    cargo build --release --locked -p kes -p kes-bench
fi
command -v "$OHA" >/dev/null || { echo "oha not found: cargo install oha --locked" >&2; OHA=; }
: > "$RESULTS"

stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap stop_server EXIT

wait_quiet() {
    for _ in $(seq 60); do
        awk -v q="$QUIET" '{ exit !($1 < q) }' /proc/loadavg && return
        sleep 5
    done
    echo "load average still $(cut -d' ' -f1-3 /proc/loadavg), measuring anyway" >&2
}

# rss <label>: record VmRSS and VmHWM (peak) of the server, in MiB.
rss() {
    local rss hwm
    rss=$(awk '/^VmRSS/ { print $2 / 1024 }' "/proc/$SERVER_PID/status")
    hwm=$(awk '/^VmHWM/ { print $2 / 1024 }' "/proc/$SERVER_PID/status")
    echo "{\"label\":\"$1\",\"store\":\"$STORE\",\"rss_mib\":$rss,\"peak_rss_mib\":$hwm,\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >> "$RESULTS"
    echo "  rss $1: ${rss} MiB (peak ${hwm} MiB)"
}

# kb <label> <kes-bench args...>: one kes-bench run, appended to results.jsonl.
kb() {
    local label=$1
    shift
    local json
    json=$($PIN_CLIENT "$BENCH" --server "$URL" --insecure "${AUTH[@]}" --server-pid "$SERVER_PID" --json "$@")
    echo "{\"label\":\"$label\",\"store\":\"$STORE\",\"tool\":\"kes-bench\",\"result\":$json}" >> "$RESULTS"
    echo "$json" | jq -r --arg l "$label" '"  \($l): \(.requests_per_second | floor) req/s  p50 \(.latency_ms.p50)  p99 \(.latency_ms.p99)  max \(.latency_ms.max) ms  server \(.server.cpu_us_per_request) µs CPU/req  status \(.status)  errors \(.errors)"'
}

# cpu_ns: CPU time of all server threads so far, in ns.
cpu_ns() {
    cat /proc/"$SERVER_PID"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'
}

# oh <label> <oha args...>: one oha run against the generate endpoint.
oh() {
    [[ -n $OHA ]] || return 0
    local label=$1
    shift
    local fmt=(--json)
    "$OHA" --help | grep -q -- --output-format && fmt=(--output-format json)
    local json load before after
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    before=$(cpu_ns)
    json=$("$OHA" --no-tui "${fmt[@]}" --insecure --cert "$CERT" --key "$KEY" \
        -m POST -H 'Content-Type: application/json' -d '{}' "$@" "$URL/v1/key/generate/bench-key")
    after=$(cpu_ns)
    json=$(echo "$json" | jq -c .)
    echo "{\"label\":\"$label\",\"store\":\"$STORE\",\"tool\":\"oha\",\"load\":\"$load\",\"server_cpu_ns\":$((after - before)),\"result\":$json}" >> "$RESULTS"
    echo "$json" | jq -r --arg l "$label" '"  oha \($l): \(.summary.requestsPerSec | floor) req/s  p50 \(.latencyPercentiles.p50 * 1000)  p99 \(.latencyPercentiles.p99 * 1000)  max \(.summary.slowest * 1000) ms  status \(.statusCodeDistribution)"'
}

wait_ready() {
    for _ in $(seq 200); do
        if curl -sk -o /dev/null --cert "$CERT" --key "$KEY" "$URL/version"; then return; fi
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "server died:" >&2; cat "$1" >&2; exit 1; }
        sleep 0.1
    done
    echo "server not ready after 20 s" >&2
    exit 1
}

start_mem() {
    local log=$OUT/server-mem.log
    $PIN_SERVER "$KES" server --dev --addr "127.0.0.1:$PORT" > "$log" 2>&1 &
    SERVER_PID=$!
    local api_key=
    for _ in $(seq 100); do
        api_key=$(grep -o 'kes:v1:[A-Za-z0-9+/=]*' "$log" 2>/dev/null | head -1 || true)
        [[ -n $api_key ]] && break
        sleep 0.1
    done
    [[ -n $api_key ]] || { echo "no API key in $log" >&2; cat "$log" >&2; exit 1; }
    rm -rf "$OUT/mem-cert" && mkdir -p "$OUT/mem-cert"
    "$BENCH" --api-key "$api_key" --export-cert "$OUT/mem-cert"
    CERT=$OUT/mem-cert/client.crt KEY=$OUT/mem-cert/client.key
    AUTH=(--api-key "$api_key")
    wait_ready "$log"
}

# start_fs <audit: on|off> [fresh: 1|0]
start_fs() {
    local audit=$1 fresh=${2:-1}
    local dir=$OUT/fs
    local admin
    admin=$(bench_certs "$dir")
    [[ $fresh == 1 ]] && rm -rf "$dir/keys"
    mkdir -p "$dir/keys"
    cat > "$dir/config-$audit.yml" <<EOF
version: v1
address: 127.0.0.1:$PORT
admin:
  identity: $admin
tls:
  key: $dir/server.key
  cert: $dir/server.crt
log:
  error: on
  audit: $audit
keystore:
  fs:
    path: $dir/keys
EOF
    local log=$OUT/server-fs-audit-$audit.log
    $PIN_SERVER "$KES" server --config "$dir/config-$audit.yml" > "$log" 2>&1 &
    SERVER_PID=$!
    CERT=$dir/client.crt KEY=$dir/client.key
    AUTH=(--cert "$CERT" --key "$KEY")
    wait_ready "$log"
}

# The matrix shared by both stores.
matrix() {
    sleep 1
    rss idle
    kb "generate h1 c1" -w generate -c 1 -n $((N / 2))
    kb "generate h1 c16" -w generate -c 16 -n "$N"
    kb "generate h1 c256" -w generate -c 256 -n "$N"
    kb "generate h2 c1" -w generate --http2 -c 1 -n $((N / 2))
    kb "generate h2 c16" -w generate --http2 -c 16 -n "$N"
    kb "generate h2 c256" -w generate --http2 -c 256 -n "$N"
    kb "generate h2 c1x16" -w generate --http2 -c 1 -p 16 -n "$N"
    oh "generate h1 c16" -n "$N" -c 16
    oh "generate h2 c16" -n "$N" -c 16 --http2
    oh "generate h1 c256" -n "$N" -c 256
    kb "decrypt h1 c16" -w decrypt -c 16 -n "$N" --context '{}'
    kb "encrypt h1 c16" -w encrypt -c 16 -n "$N" --context '{}'
    kb "minio h1 c16" -w minio -c 16 -n "$N"
    kb "create-delete h1 c16" -w create-delete -c 16 -n $((N / 10))
    kb "handshake c16" -w handshake -c 16 -n $((N / 10))
    kb "handshake c16 X25519MLKEM768" -w handshake -c 16 -n $((N / 10)) --kx-group X25519MLKEM768
    rss "after load"
}

for STORE in $STORES; do
    wait_quiet
    echo "== $STORE store"
    case $STORE in
        mem)
            start_mem
            matrix
            stop_server
            ;;
        soak)
            # RSS growth over a long run (minio mix, 16 connections), niced so
            # that it yields to other work on a shared machine.
            start_mem
            sleep 1
            rss "soak start"
            for i in $(seq "$((SOAK / 60))"); do
                nice -n 10 "$BENCH" --server "$URL" --insecure "${AUTH[@]}" --server-pid "$SERVER_PID" \
                    --json -w minio -c 16 -z 60s > "$OUT/soak-$i.json"
                echo "{\"label\":\"soak minute $i\",\"store\":\"$STORE\",\"tool\":\"kes-bench\",\"result\":$(cat "$OUT/soak-$i.json")}" >> "$RESULTS"
                rss "soak minute $i"
            done
            stop_server
            rm -f "$OUT/server-mem.log" # gigabytes of audit lines
            ;;
        pinned)
            PIN_SERVER="taskset -c 0" PIN_CLIENT="taskset -c 1"
            for round in 1 2 3; do
                start_mem
                sleep 1
                kb "mem: handshake c16 ($round)" -w handshake -c 16 -n $((N / 10)) --threads 1
                kb "mem: handshake c16 X25519MLKEM768 ($round)" -w handshake -c 16 -n $((N / 10)) --threads 1 --kx-group X25519MLKEM768
                stop_server
                start_fs off
                sleep 1
                kb "fs: handshake c16 ($round)" -w handshake -c 16 -n $((N / 10)) --threads 1
                stop_server
            done
            PIN_SERVER= PIN_CLIENT=
            ;;
        fs)
            start_fs off
            matrix
            stop_server
            wait_quiet
            start_fs on
            sleep 1
            kb "audit on: generate h1 c16" -w generate -c 16 -n "$N"
            kb "audit on: create-delete h1 c16" -w create-delete -c 16 -n $((N / 10))
            oh "audit on: generate h1 c16" -n "$N" -c 16
            stop_server
            start_fs off 0
            sleep 1
            kb "audit off: generate h1 c16" -w generate -c 16 -n "$N"
            kb "audit off: create-delete h1 c16" -w create-delete -c 16 -n $((N / 10))
            oh "audit off: generate h1 c16" -n "$N" -c 16
            kb "fill $KEYS keys" -w create --key-name fill -c 16 -n "$KEYS"
            stop_server
            start_fs off 0
            sleep 1
            rss "idle, $KEYS keys on disk"
            kb "generate over $KEYS keys h1 c16" -w generate --key-name fill --keys "$KEYS" -c 16 -n $((KEYS * 2))
            rss "$KEYS keys cached"
            stop_server
            ;;
    esac
done
echo "results: $RESULTS"
python3 "$ROOT/scripts/bench_table.py" "$RESULTS"
