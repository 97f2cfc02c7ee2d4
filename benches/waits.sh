#!/usr/bin/env bash
# Weft's waiting-runs benchmark (README: `make waits-bench`): one release-build
# Weft process on a fresh PostgreSQL database holds COUNT runs paused at a
# `wait` node at once.
#   1. The process's memory (RSS) idle, then with every run waiting.
#   2. Transactions on the database over 60 s while they wait (idle queries).
#   3. How long it takes to resume them all (one API call each, 32 at a time)
#      until every run has finished.
# Usage: benches/waits.sh [COUNT, default 10000]
# PostgreSQL: WEFT_BENCH_PG names a database to connect to for creating (and
# afterwards dropping) the benchmark's own (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-10000}"
admin="${WEFT_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}"

[ -x target/release/weft ] || bash .ci/with-tools cargo leptos build --release --split
name="weft_waits_$$"
url="${admin%/*}/$name"
work="$(mktemp -d)"
pid=""
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    psql "$admin" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
psql "$admin" -qc "CREATE DATABASE $name"
export WEFT_DATABASE_URL="$url" RUST_LOG=warn
sql() { psql "$url" -qAtc "$1"; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }

echo "bench-password" | ./target/release/weft user create bench@weft.invalid >/dev/null
key="$(./target/release/weft api-key create --user bench@weft.invalid 2>/dev/null)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
./target/release/weft serve --addr "127.0.0.1:$port" --retention-interval-secs 0 >"$work/weft.log" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
until curl -fs "$base/readyz" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/weft.log" >&2; exit 1; }
    sleep 0.02
done
api() { curl -sS --fail-with-body -H "Authorization: Bearer $key" -H 'Content-Type: application/json' "$@"; }
workflow=$(api -X POST "$base/api/v1/workflows" -d '{"name": "approve",
  "nodes": [{"id": "ask", "type": "template", "config": {"template": "approve {{ input.i }}: {{ resume_urls.approve }}"}},
            {"id": "approve", "type": "wait", "config": {"timeout_ms": 86400000}},
            {"id": "done", "type": "template", "config": {"template": "{{ nodes.approve.ok }}"}}],
  "edges": [{"from": "ask", "to": "approve"}, {"from": "approve", "to": "done"}]}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
sleep 5
idle_rss=$(rss_mib)

started=$(date +%s%N)
seq 1 "$count" | xargs -P 32 -I{} curl -sS -o /dev/null -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' -X POST "$base/api/v1/workflows/$workflow/executions" -d '{"input": {"i": {}}}'
until [ "$(sql "SELECT COUNT(*) FROM executions WHERE status = 'waiting'")" = "$count" ]; do sleep 0.2; done
parked_s=$(python3 -c "print(f'{($(date +%s%N) - $started) / 1e9:.1f}')")
sleep 10
waiting_rss=$(rss_mib)
transactions() { sql "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"; }
before=$(transactions)
sleep 60
after=$(transactions)
# Each reading is a transaction of its own: one of them falls inside the window.
idle=$(( after - before - 1 ))
held=$(curl -s "$base/metrics" | awk '/^weft_executions_running_here / {print $2}')

started=$(date +%s%N)
sql "SELECT id FROM executions WHERE status = 'waiting'" | xargs -P 32 -I{} curl -sS -o /dev/null \
    -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -X POST \
    "$base/api/v1/executions/{}/resume" -d '{"ok": true}'
until [ "$(sql "SELECT COUNT(*) FROM executions WHERE status = 'succeeded'")" = "$count" ]; do sleep 0.2; done
resumed_s=$(python3 -c "print(f'{($(date +%s%N) - $started) / 1e9:.1f}')")
after_rss=$(rss_mib)

cat <<REPORT

| runs waiting | started and parked in | RSS idle | RSS with all waiting | running executions held | DB transactions in 60 s while waiting | all resumed and finished in | RSS after |
|---|---|---|---|---|---|---|---|
| $count | $parked_s s | $idle_rss MiB | $waiting_rss MiB | ${held:-?} | $idle | $resumed_s s | $after_rss MiB |
REPORT
