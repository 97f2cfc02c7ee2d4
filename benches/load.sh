#!/usr/bin/env bash
# Weft's load benchmark (README: `make load-bench`). Starts the release build on
# a fresh SQLite database, seeds 100,000 workflows and 1,000,000 executions,
# then drives it with wrk on 127.0.0.1 only, each run bounded in time:
#   W1  webhook -> three chained templates -> answer (synchronous)
#   W2  webhook -> ten independent templates -> merge -> answer
#   W3  webhook -> one http node calling a local upstream that answers in 50 ms
#   and the workflow list (first and a deep page) and the execution history
#   (first page, and filtered by status), and a name search too short for the
#   trigram index (a scan). Also: start-up time, idle and peak RSS, and the
#   database statements an idle server runs.
# Usage: benches/load.sh [seconds per run, default 10] [WORKFLOWS] [EXECUTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
workflows="${2:-100000}"
executions="${3:-1000000}"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --bin weft 2>&1 | tail -1

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work="$(mktemp -d)"
db="sqlite://$work/weft.db"
port="$(free_port)"
upstream_port="$(free_port)"
base="http://127.0.0.1:$port"
export RUST_LOG=warn WEFT_DATABASE_URL="$db"
# Throughput runs measure the engine, not the webhook rate limits.
export WEFT_WEBHOOK_CALLS_PER_PATH_PER_SECOND=0 WEFT_WEBHOOK_CALLS_PER_USER_PER_SECOND=0
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

echo "==> seeding $workflows workflows and $executions executions"
./target/release/weft seed --workflows "$workflows" --executions "$executions"
key="$(./target/release/weft api-key create --user load@weft.invalid 2>/dev/null)"

python3 benches/load/upstream.py "$upstream_port" & pids+=($!)

# Database statements while idle (goal: zero), with the default settings
# (retention and cron on): sqlx logs every statement at trace level. Counted
# over 30 s after 5 s to settle (start-up: migrations, templates, the first
# retention pass, the checkpoint after them).
echo "==> counting database statements while idle"
idle_port="$(free_port)"
RUST_LOG=warn,sqlx::query=trace ./target/release/weft serve --addr "127.0.0.1:$idle_port" >"$work/idle.log" 2>&1 & idle_pid=$!
until curl -fs "http://127.0.0.1:$idle_port/healthz" >/dev/null 2>&1; do sleep 0.05; done
sleep 5
idle_before=$(grep -c 'db.statement' "$work/idle.log" || true)
sleep 30
idle_after=$(grep -c 'db.statement' "$work/idle.log" || true)
kill "$idle_pid"; wait "$idle_pid" 2>/dev/null || true
idle_statements=$(( idle_after - idle_before ))

echo "==> starting weft"
start_ns=$(date +%s%N)
./target/release/weft serve --addr "127.0.0.1:$port" --http-allow-loopback --retention-interval-secs 0 \
    >"$work/server.log" 2>&1 & pid=$!; pids+=($pid)
until curl -fs "$base/healthz" >/dev/null 2>&1; do sleep 0.005; done
startup_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
sleep 2
idle_rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
idle_anon_kb=$(awk '/RssAnon/ {print $2}' /proc/$pid/status)

api() { curl -sS --fail-with-body -H "Authorization: Bearer $key" -H 'Content-Type: application/json' "$@"; }
templates() { # n chained (chain) or independent (fan) template nodes
    python3 - "$@" <<'PY'
import json, sys
shape, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
nodes = [{"id": f"t{i}", "type": "template", "config": {"template": "step %d {{ input.body.who }}" % i}} for i in range(n)]
edges = [{"from": f"t{i-1}", "to": f"t{i}"} for i in range(1, n)] if shape == "chain" else []
if shape == "fan":
    nodes.append({"id": "all", "type": "merge"})
    edges = [{"from": f"t{i}", "to": "all"} for i in range(n)]
print(json.dumps({"name": f"load {path}", "triggers": [{"type": "webhook", "path": path}], "nodes": nodes, "edges": edges}))
PY
}
# A webhook's URL is /hooks/{id}/{path}, read back from the workflow (a build
# from before webhook ids answers no `webhooks`: then /hooks/{path}).
hook_url() { # path; reads the create answer on stdin
    local id; id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    api "$base/api/v1/workflows/$id" | python3 -c 'import json,sys; h=json.load(sys.stdin).get("webhooks"); print(h[0]["url"] if h else "/hooks/"+sys.argv[1])' "$1"
}
w1=$(api -X POST "$base/api/v1/workflows" -d "$(templates chain 3 w1)" | hook_url w1)
w2=$(api -X POST "$base/api/v1/workflows" -d "$(templates fan 10 w2)" | hook_url w2)
w3=$(api -X POST "$base/api/v1/workflows" -d "{\"name\": \"load w3\", \"triggers\": [{\"type\": \"webhook\", \"path\": \"w3\"}],
  \"nodes\": [{\"id\": \"call\", \"type\": \"http\", \"config\": {\"method\": \"GET\", \"url\": \"http://127.0.0.1:$upstream_port/\"}}]}" | hook_url w3)

# A cursor half-way down the list (50,000 workflows deep at full size), found by paging.
cursor=""
for _ in $(seq 1 $(( workflows / 400 > 0 ? workflows / 400 : 1 ))); do
    next=$(api "$base/api/v1/workflows?limit=200${cursor:+&after=$cursor}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next"] or "")')
    [ -n "$next" ] || break
    cursor=$next
done

cpu_ticks() { awk '{print $14 + $15}' /proc/$pid/stat; }
ticks_per_second=$(getconf CLK_TCK)
printf '\n| workload | c | req/s | p50 ms | p95 ms | p99 ms | errors | CPU ms/req |\n|---|---|---|---|---|---|---|---|\n' | tee "$work/report.md"
run() { # name concurrency method url [body]
    local name=$1 c=$2 method=$3 url=$4 body=${5:-}
    local before after line
    before=$(cpu_ticks)
    line=$(WRK_METHOD=$method WRK_BODY=$body WRK_TOKEN=$key wrk -t"$(( c < 2 ? 1 : 2 ))" -c"$c" -d"${seconds}s" \
        -s benches/load/report.lua "$url" | grep '^RESULT')
    after=$(cpu_ticks)
    python3 - "$name" "$c" "$line" "$before" "$after" "$ticks_per_second" <<'PY' | tee -a "$WORK_REPORT"
import sys
name, c, line, before, after, hz = sys.argv[1:]
f = dict(kv.split("=") for kv in line.split()[1:])
cpu_ms = (int(after) - int(before)) * 1000 / int(hz) / max(int(f["requests"]), 1)
print(f"| {name} | {c} | {float(f['rps']):.0f} | {f['p50_ms']} | {f['p95_ms']} | {f['p99_ms']} | {f['errors']} | {cpu_ms:.3f} |")
PY
}
export WORK_REPORT="$work/report.md"
for c in 1 8 32; do run W1 "$c" POST "$base$w1" '{"who": "load"}'; done
for c in 1 8 32; do run W2 "$c" POST "$base$w2" '{"who": "load"}'; done
for c in 1 8 32; do run W3 "$c" POST "$base$w3" '{"who": "load"}'; done
for c in 1 32; do run "workflows, first page" "$c" GET "$base/api/v1/workflows?limit=50"; done
for c in 1 32; do run "workflows, deep page" "$c" GET "$base/api/v1/workflows?limit=50&after=$cursor"; done
for c in 1 32; do run "history, first page" "$c" GET "$base/api/v1/executions?limit=50"; done
for c in 1 32; do run "history, failed only" "$c" GET "$base/api/v1/executions?limit=50&status=failed"; done
for c in 1 32; do run "workflows, 2-character search matching none" "$c" GET "$base/api/v1/workflows?limit=50&search=zq"; done

peak_rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
echo
# RSS counts the pages of the database file that SQLite's readers have mapped
# (shared with the OS page cache, given back under memory pressure); RssAnon is
# Weft's own memory.
echo "start-up to first 200: ${startup_ms} ms; idle RSS: $(( idle_rss_kb / 1024 )) MiB ($(( idle_anon_kb / 1024 )) MiB anonymous);" \
    "peak RSS: $(( peak_rss_kb / 1024 )) MiB; at the end: $(awk '/RssAnon/ {print int($2 / 1024)}' /proc/$pid/status) MiB anonymous," \
    "$(awk '/RssFile/ {print int($2 / 1024)}' /proc/$pid/status) MiB of mapped file"
echo "database statements while idle: $idle_statements in 30 s (default settings, after 5 s to settle)"
echo "database file: $(du -sh "$work/weft.db" | cut -f1) (+ WAL $(du -sh "$work/weft.db-wal" 2>/dev/null | cut -f1))"
