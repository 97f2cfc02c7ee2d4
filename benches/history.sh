#!/usr/bin/env bash
# The history at scale (README: "History at 10 million executions"). Seeds
# EXECUTIONS finished executions (default 10,000,000), each with its node's
# row, over 1,000 workflows, one every 500 ms up to now (58 days at full
# size), into a fresh SQLite file or a fresh PostgreSQL database. Then it
# measures with wrk, at concurrency 1 and 32, what the history's viewer asks:
#   the history page as the browser gets it (GET /history, rendered on the
#   server with its first 50 rows, the count and the chart), filtered by status
#   and by workflow; its two reads apart: the rows with the count
#   (history/load) and the chart (history/chart); the rows the page fetches as
#   it is scrolled, 5 million rows deep (history/rows); the API's list, first
#   page and 5 million deep; one execution's detail (API);
# and finally times one retention pass that trims every workflow to 97 % of
# what it has, then one that deletes the oldest day by age (in this order: after
# the age pass every workflow is under 97 % already) (at full size,
# about 170,000 and 120,000 executions: each pass's fixed cost at this size,
# and its rate).
# Usage: benches/history.sh [sqlite|postgres] [seconds per run, default 10] [EXECUTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
seconds="${2:-10}"
executions="${3:-10000000}"
workflows=1000
every_ms=500

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# WEFT_BIN runs that binary instead of building the release one (to compare builds).
bin="${WEFT_BIN:-./target/release/weft}"
[ -n "${SKIP_BUILD:-}${WEFT_BIN:-}" ] || cargo build --release --bin weft 2>&1 | tail -1

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work="$(mktemp -d)"
pg_database="weft_history_bench_$$"
case "$backend" in
    sqlite) db="sqlite://$work/weft.db" ;;
    postgres)
        psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $pg_database" postgres
        db="postgres://postgres@127.0.0.1:5432/$pg_database" ;;
    *) echo "usage: $0 [sqlite|postgres] [seconds] [executions]" >&2; exit 2 ;;
esac
port="$(free_port)"
base="http://127.0.0.1:$port"
export RUST_LOG=warn WEFT_DATABASE_URL="$db"
pid=""
cleanup() {
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
    [ "$backend" != postgres ] || psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $pg_database" postgres
}
trap cleanup EXIT

email=history@weft.invalid
password="history-bench-$$"
# An admin (with no admin, every page leads to the set-up): the history of everyone.
echo "$password" | "$bin" user create --admin "$email" >/dev/null
echo "==> seeding $executions executions (with their node rows) over $workflows workflows ($backend)"
seeded_at_ms=$(date +%s%3N)
"$bin" seed --email "$email" --workflows "$workflows" --executions "$executions" --every-ms "$every_ms"
key="$("$bin" api-key create --user "$email" 2>/dev/null)"
# Statistics for the planner, as autovacuum would gather them after a bulk
# load (without them PostgreSQL plans the history's reads on empty-table guesses).
[ "$backend" != postgres ] || psql -q -h 127.0.0.1 -U postgres -d "$pg_database" -c ANALYZE

"$bin" serve --addr "127.0.0.1:$port" --retention-interval-secs 0 >"$work/server.log" 2>&1 & pid=$!
until curl -fs "$base/healthz" >/dev/null 2>&1; do sleep 0.05; done
cookie=$(curl -sS -D - -o /dev/null -X POST "$base/api/accounts/sign-in" \
    --data-urlencode "email=$email" --data-urlencode "password=$password" |
    awk -F'[ ;]' 'tolower($1) == "set-cookie:" {print $2}')
[ -n "$cookie" ] || { echo "signing in failed" >&2; exit 1; }

# A cursor half-way down: the sort key just after the middle execution.
middle_at=$(( seeded_at_ms - executions / 2 * every_ms ))
deep="$middle_at.9223372036854775807"
workflow_id=$(curl -fsS -H "Authorization: Bearer $key" "$base/api/v1/workflows?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
execution_id=$(curl -fsS -H "Authorization: Bearer $key" "$base/api/v1/executions?limit=1&after=$deep" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
# Every request must answer 200 with rows: a quiet error would look fast.
for check in "/history" "/history?status=failed" "/history?workflow=$workflow_id"; do
    page=$(curl -fsS -H "Cookie: $cookie" "$base$check")
    grep -q 'data-testid="history-row"' <<<"$page" || { echo "no rows in $check: ${page:0:2000}" >&2; exit 1; }
done
curl -fsS -H "Cookie: $cookie" -H 'Content-Type: application/json' -d "{\"query\": {\"after\": \"$deep\"}}" \
    "$base/api/history/rows" | python3 -c 'import json,sys; assert json.load(sys.stdin)["items"], "no rows deep down"'

printf '\n| %s, %s executions | c | req/s | p50 ms | p95 ms | p99 ms | errors |\n|---|---|---|---|---|---|---|\n' \
    "$backend" "$executions" | tee "$work/report.md"
run() { # name concurrency method url [body]
    local name=$1 c=$2 method=$3 url=$4 body=${5:-}
    local line
    line=$(WRK_METHOD=$method WRK_BODY=$body WRK_TOKEN=$key WRK_COOKIE=$cookie wrk -t"$(( c < 2 ? 1 : 2 ))" -c"$c" \
        -d"${seconds}s" -s benches/load/report.lua "$url" | grep '^RESULT')
    python3 - "$name" "$c" "$line" <<'PY' | tee -a "$work/report.md"
import sys
name, c, line = sys.argv[1:]
f = dict(kv.split("=") for kv in line.split()[1:])
print(f"| {name} | {c} | {float(f['rps']):.0f} | {f['p50_ms']} | {f['p95_ms']} | {f['p99_ms']} | {f['errors']} |")
PY
}
for c in 1 32; do
    run "history page (GET /history)" "$c" GET "$base/history"
    run "history page, failed only" "$c" GET "$base/history?status=failed"
    run "history page, one workflow" "$c" GET "$base/history?workflow=$workflow_id"
    run "first 50 rows and the count (history/load)" "$c" POST "$base/api/history/load" '{"query": {}}'
    run "the chart, 48 hours (history/chart)" "$c" POST "$base/api/history/chart" '{"query": {}}'
    run "scrolled rows, 5 M deep (history/rows)" "$c" POST "$base/api/history/rows" "{\"query\": {\"after\": \"$deep\"}}"
    run "API list, first page" "$c" GET "$base/api/v1/executions?limit=50"
    run "API list, 5 M deep" "$c" GET "$base/api/v1/executions?limit=50&after=$deep"
    run "execution detail (API)" "$c" GET "$base/api/v1/executions/$execution_id"
done
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""

# Flat out (duty 100 %: the default 10 % paces the same work over ten times as
# long), in the default batches of 100 (each followed by a 20 ms pause).
span_days=$(( executions * every_ms / 86400000 ))
keep=$(( executions / workflows * 97 / 100 ))
[ "$span_days" -ge 2 ] || { echo "(retention needs at least two days of executions)"; exit 0; }
echo
echo "==> retention by count with no workflow over the limit: the cost of looking"
"$bin" retention --retention-max-age-days 0 --retention-max-per-workflow "$executions" --retention-duty-percent 100
echo "==> retention by count: keep $keep per workflow"
"$bin" retention --retention-max-age-days 0 --retention-max-per-workflow "$keep" --retention-duty-percent 100
echo "==> retention by age: keep $(( span_days - 1 )) of $span_days days"
"$bin" retention --retention-max-age-days "$(( span_days - 1 ))" --retention-max-per-workflow 0 \
    --retention-duty-percent 100
case "$backend" in
    sqlite) echo "database file: $(du -sh "$work/weft.db" | cut -f1)" ;;
    postgres) psql -h 127.0.0.1 -U postgres -tAc "SELECT 'database: ' || pg_size_pretty(pg_database_size('$pg_database'))" postgres ;;
esac
