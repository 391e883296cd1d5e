#!/usr/bin/env bash
# Scale-out check an operator can run (issue 18, item 1): a 3-node OpenBao
# Raft cluster on loopback (installed into target/test-peers/venv on first
# use), three `kes server` processes with the same config on it, and a
# generate/decrypt load with a few creates from a client with all three
# endpoints. During the load one KES node is killed, then the OpenBao
# leader; both are restarted. Prints the requests, the failures by kind and
# the longest request; fails if a generate/decrypt of a cached key failed or
# a create failed with anything but a retryable error (5xx, network), or did
# not succeed after the election. Everything runs on 127.0.0.1 and is
# stopped by PID at the end (also on failure). About 25 s after the build.
#
# The scenario is crates/kes/tests/raft_cluster.rs (also part of cargo test).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked -p kes --test raft_cluster -- --nocapture 2>&1 |
  grep -vE '^(time=|\{"time")'
