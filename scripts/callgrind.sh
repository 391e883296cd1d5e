#!/usr/bin/env bash
# Instructions per request of a server build, from valgrind's callgrind:
# repeatable where CPU-time figures on a shared VM are not (they move ±20 %
# run to run). The server runs under callgrind with an fs store and the
# audit log off (AUDIT=on for on); after a warm-up the counters are zeroed,
# kes-bench sends N requests, and the counters are dumped.
#
#   scripts/callgrind.sh BIN_DIR [workload (generate)] [kes-bench args...]
#
# BIN_DIR holds a release `kes` and `kes-bench`. N (4000) requests, PORT
# (7395). Prints "Ir/request" and leaves the profile in $OUT/callgrind.out
# (read it with `callgrind_annotate --inclusive=yes`). Note: valgrind hides
# SHA and AES instructions (SHA-NI, VAES) from the CPU-feature checks, so
# crypto runs its slower AVX code here: count crypto changes with perf.
set -euo pipefail
# shellcheck source=certs.sh
source "$(dirname "${BASH_SOURCE[0]}")/certs.sh"
BIN=$(cd "$1" && pwd)
WORKLOAD=${2:-generate}
shift $(($# < 2 ? $# : 2))
N=${N:-4000} PORT=${PORT:-7395} AUDIT=${AUDIT:-off}
OUT=${OUT:-$(mktemp -d /tmp/kes-cg.XXXX)}
URL=https://127.0.0.1:$PORT
PID=
trap '[[ -n $PID ]] && kill $PID 2>/dev/null; wait 2>/dev/null || true' EXIT

OUT=$(mkdir -p "$OUT" && cd "$OUT" && pwd) && cd "$OUT"
ADMIN=$(bench_certs "$OUT")
rm -rf keys && mkdir keys
cat > config.yml <<EOF
address: 127.0.0.1:$PORT
admin: { identity: $ADMIN }
tls: { key: $OUT/server.key, cert: $OUT/server.crt }
log: { error: on, audit: $AUDIT }
keystore: { fs: { path: $OUT/keys } }
EOF
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" \
    "$BIN/kes" server --config config.yml > server.log 2>&1 &
PID=$!
bench() {
    "$BIN/kes-bench" --server "$URL" --insecure --cert client.crt --key client.key \
        --timeout 60s -c 4 -w "$WORKLOAD" "$@"
}
for _ in $(seq 300); do
    bench -n 1 "$@" >/dev/null 2>&1 && break
    sleep 0.2
done
bench -n 500 "$@" >/dev/null
callgrind_control -z "$PID" >/dev/null
bench -n "$N" "$@" | grep -E 'requests|errors'
callgrind_control -d "$PID" >/dev/null
sleep 1
kill -INT "$PID" 2>/dev/null || true
wait "$PID" 2>/dev/null || true
PID=
# The dump after zeroing is the last numbered file.
last=$(ls -1 callgrind.out.* | sort -t. -k3 -n | tail -1)
mv "$last" callgrind.out
total=$(callgrind_annotate callgrind.out 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
echo "$WORKLOAD $*: $((total / N)) Ir/request ($OUT/callgrind.out)"
