#!/usr/bin/env bash
# Weft's scale-out benchmark (README: `make cluster-bench`): several release-build
# Weft processes on one fresh PostgreSQL database.
#   1. Executions per second of a short workflow (three chained templates) that
#      1, 2 and 3 worker processes drain from the queue, with their CPU per execution.
#   2. Queries per second on the database while three processes sit idle.
#   3. Time from SIGKILL of a worker to the takeover of its executions (default lease).
# Usage: benches/cluster.sh [EXECUTIONS per round, default 20000]
# WEFT_BIN runs that binary instead of building the release one (to compare builds).
# PostgreSQL: WEFT_BENCH_PG names a database to connect to for creating (and
# afterwards dropping) the benchmark's own (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-20000}"
admin="${WEFT_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}"

bin="${WEFT_BIN:-./target/release/weft}"
[ -n "${WEFT_BIN:-}" ] || cargo build --release --bin weft 2>&1 | tail -1
name="weft_bench_$$"
url="${admin%/*}/$name"
work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    psql "$admin" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
psql "$admin" -qc "CREATE DATABASE $name"
export WEFT_DATABASE_URL="$url" RUST_LOG=warn
# Throughput runs measure the engine, not the webhook rate limits.
export WEFT_WEBHOOK_CALLS_PER_PATH_PER_SECOND=0 WEFT_WEBHOOK_CALLS_PER_USER_PER_SECOND=0
sql() { psql "$url" -qAtc "$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start ROLE NAME [flags…]: starts a process, waits until it answers, prints its pid.
start() {
    local role=$1 label=$2 port
    shift 2
    port=$(free_port)
    "$bin" serve --role "$role" --addr "127.0.0.1:$port" "$@" >"$work/$label.log" 2>&1 &
    local pid=$!
    until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || { cat "$work/$label.log" >&2; exit 1; }
        sleep 0.02
    done
    echo "$pid $port"
}
cpu_ms() { # total CPU milliseconds of the given pids (those still alive)
    local total=0 p ticks
    for p in "$@"; do
        ticks=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || continue
        total=$(( total + ${ticks:-0} ))
    done
    echo $(( total * 1000 / $(getconf CLK_TCK) ))
}

# A user, an API key and the workflows, through a web process.
echo "bench-password" | "$bin" user create bench@weft.invalid >/dev/null
key="$("$bin" api-key create --user bench@weft.invalid 2>/dev/null)"
read -r web_pid web_port < <(start web web)
pids+=("$web_pid")
api() { curl -sS --fail-with-body -H "Authorization: Bearer $key" -H 'Content-Type: application/json' "$@"; }
short=$(api -X POST "http://127.0.0.1:$web_port/api/v1/workflows" -d '{"name": "short",
  "nodes": [{"id": "a", "type": "template", "config": {"template": "a {{ input.i }}"}},
            {"id": "b", "type": "template", "config": {"template": "b {{ nodes.a.text }}"}},
            {"id": "c", "type": "template", "config": {"template": "c {{ nodes.b.text }}"}}],
  "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "c"}]}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
endless=$(api -X POST "http://127.0.0.1:$web_port/api/v1/workflows" -d '{"name": "endless",
  "nodes": [{"id": "wait", "type": "delay", "config": {"ms": 600000}}]}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
kill "$web_pid"; wait "$web_pid" 2>/dev/null || true
owner=$(sql "SELECT id FROM users WHERE email = 'bench@weft.invalid'")

# Queues COUNT executions of WORKFLOW in one statement and wakes the workers.
enqueue() {
    sql "INSERT INTO executions (workflow_id, version, owner_id, trigger, input, status, created_at)
         SELECT $1, 1, $owner, 'api', jsonb_build_object('i', g), 'queued',
                (extract(epoch FROM clock_timestamp()) * 1000)::bigint
         FROM generate_series(1, $2) g; NOTIFY weft, 'queued';"
}
unfinished() { sql "SELECT COUNT(*) FROM executions WHERE status IN ('queued', 'running')"; }

# PostgreSQL runs on the same cores: its CPU per execution shows where the time goes.
postgres_cpu_ms() { cpu_ms $(pgrep -x postgres || pgrep -f "postgres:" ); }
printf '\n| workers | executions | seconds | executions/s | worker CPU ms/execution | PostgreSQL CPU ms/execution |\n|---|---|---|---|---|---|\n' | tee "$work/report.md"
for workers in 1 2 3; do
    worker_pids=()
    for i in $(seq 1 "$workers"); do
        read -r pid _ < <(start worker "worker$i" --retention-interval-secs 0)
        worker_pids+=("$pid"); pids+=("$pid")
    done
    cpu_before=$(cpu_ms "${worker_pids[@]}")
    pg_before=$(postgres_cpu_ms)
    started=$(date +%s%N)
    enqueue "$short" "$count"
    while [ "$(unfinished)" != "0" ]; do sleep 0.1; done
    elapsed_ns=$(( $(date +%s%N) - started ))
    cpu_after=$(cpu_ms "${worker_pids[@]}")
    pg_after=$(postgres_cpu_ms)
    failed=$(sql "SELECT COUNT(*) FROM executions WHERE status <> 'succeeded'")
    [ "$failed" = "0" ] || { echo "$failed executions did not succeed" >&2; exit 1; }
    python3 - "$workers" "$count" "$elapsed_ns" "$cpu_before" "$cpu_after" "$pg_before" "$pg_after" <<'PY' | tee -a "$work/report.md"
import sys
workers, count, ns, before, after, pg_before, pg_after = map(int, sys.argv[1:])
seconds = ns / 1e9
print(f"| {workers} | {count} | {seconds:.1f} | {count / seconds:,.0f} | {(after - before) / count:.3f} "
      f"| {(pg_after - pg_before) / count:.3f} |")
PY
    for pid in "${worker_pids[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
    sql "TRUNCATE executions CASCADE" >/dev/null
done

echo
echo "==> idle: three processes (role all, retention on: every 300 s), 15 s to settle, then 60 s measured"
idle_pids=()
for i in 1 2 3; do
    read -r pid _ < <(start all "idle$i")
    idle_pids+=("$pid"); pids+=("$pid")
done
sleep 15
transactions() { sql "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"; }
before=$(transactions)
sleep 60
after=$(transactions)
# Each reading is a transaction of its own: one of them falls inside the window.
idle=$(( after - before - 1 ))
echo "idle transactions on the database in 60 s: $idle ($(python3 -c "print(f'{$idle / 60:.3f}')")/s)" | tee -a "$work/report.md"
for pid in "${idle_pids[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done

echo
echo "==> takeover: two workers (default 20 s lease), one killed with SIGKILL while running"
read -r first _ < <(start worker first)
pids+=("$first")
enqueue "$endless" 20
until [ "$(sql "SELECT COUNT(*) FROM executions WHERE status = 'running'")" = "20" ]; do sleep 0.1; done
read -r second _ < <(start worker second)
pids+=("$second")
sleep 3 # the first renews its leases, as a live process does
kill -9 "$first"
killed=$(date +%s%N)
until [ "$(sql "SELECT COUNT(*) FROM executions WHERE status = 'running' AND lease_owner LIKE '%-$first-%'")" = "0" ]; do
    sleep 0.05
done
takeover_ms=$(( ($(date +%s%N) - killed) / 1000000 ))
echo "SIGKILL to takeover of all 20 executions: $takeover_ms ms (lease 20,000 ms)" | tee -a "$work/report.md"
echo
cat "$work/report.md"
