#!/usr/bin/env python3
"""Turns scripts/bench.sh's results.jsonl into the markdown tables of BENCHMARKS.md."""
import json
import sys


def main(path):
    runs, memory = [], []
    with open(path) as f:
        text = f.read()
    decoder, pos = json.JSONDecoder(), 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        row, pos = decoder.raw_decode(text, pos)
        (memory if "rss_mib" in row else runs).append(row)
    print("| store | tool | run | req/s | p50 ms | p90 ms | p99 ms | max ms | server CPU µs/req | non-200 / errors | load avg (1 m) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    for row in runs:
        r = row["result"]
        if row["tool"] == "oha":
            lat = r["latencyPercentiles"]
            rps = r["summary"]["requestsPerSec"]
            p50, p90, p99 = (lat[k] * 1000 for k in ("p50", "p90", "p99"))
            mx = r["summary"]["slowest"] * 1000
            bad = {k: v for k, v in r.get("statusCodeDistribution", {}).items() if k != "200"}
            bad.update(r.get("errorDistribution", {}))
            load = row.get("load", "").split(" ")[0]
            n = sum(r.get("statusCodeDistribution", {}).values())
            cpu = row.get("server_cpu_ns", 0) / 1000 / n if n else None
        else:
            lat = r["latency_ms"]
            rps = r["requests_per_second"]
            p50, p90, p99, mx = lat["p50"], lat["p90"], lat["p99"], lat["max"]
            bad = {k: v for k, v in r["status"].items() if k != "200"}
            bad.update(r["errors"])
            load = f'{r["load_average_before"][0]:.2f}' if r.get("load_average_before") else ""
            cpu = (r.get("server") or {}).get("cpu_us_per_request")
        bad = ", ".join(f"{k}: {v}" for k, v in bad.items()) or "-"
        print(f'| {row["store"]} | {row["tool"]} | {row["label"]} | {rps:,.0f} | {p50:.3f} | {p90:.3f} | {p99:.3f} | {mx:.2f} | {"%.1f" % cpu if cpu else "-"} | {bad} | {load} |')
    print()
    print("| store | when | RSS MiB | peak RSS MiB | load avg |")
    print("|---|---|---:|---:|---|")
    for row in memory:
        print(f'| {row["store"]} | {row["label"]} | {row["rss_mib"]:.1f} | {row["peak_rss_mib"]:.1f} | {row["load"]} |')


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/bench/results.jsonl")
