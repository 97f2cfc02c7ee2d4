#!/usr/bin/env bash
# A/B of two Weft release binaries on the webhook workloads W1 (three chained
# templates) and W2 (ten independent templates and a merge), as in load.sh but
# without the seeding: each run gets a fresh SQLite file, 2 s of warm-up, then
# wrk at concurrency 32 for SECONDS. Rounds alternate which binary goes first,
# since a shared host drifts. Prints requests/s, p99 and Weft's CPU ms per run.
# Usage: benches/webhook-ab.sh OLD_BIN NEW_BIN [rounds, default 4] [seconds, default 8]
# (Build each with `cargo build --release --bin weft` and copy it aside first.)
set -euo pipefail
cd "$(dirname "$0")/.."
old="$1"; new="$2"; rounds="${3:-4}"; seconds="${4:-8}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

measure() { # binary label
    local bin=$1 label=$2 work port key pid
    work="$(mktemp -d)"
    export WEFT_DATABASE_URL="sqlite://$work/weft.db" RUST_LOG=warn
    # Throughput runs measure the engine, not the webhook rate limits.
    export WEFT_WEBHOOK_CALLS_PER_PATH_PER_SECOND=0 WEFT_WEBHOOK_CALLS_PER_USER_PER_SECOND=0
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    echo "password1234" | "$bin" user create ab@weft.invalid >/dev/null 2>&1
    key="$("$bin" api-key create --user ab@weft.invalid 2>/dev/null)"
    "$bin" serve --addr "127.0.0.1:$port" --retention-interval-secs 0 >"$work/log" 2>&1 & pid=$!
    until curl -fs "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.02; done
    local api=(curl -sS --fail-with-body -H "Authorization: Bearer $key" -H 'Content-Type: application/json')
    # A webhook's URL is /hooks/{id}/{path}, read back from the workflow (a
    # build from before webhook ids answers no `webhooks`: then /hooks/{path}).
    hook_url() { # path; reads the create answer on stdin
        local id; id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
        "${api[@]}" "http://127.0.0.1:$port/api/v1/workflows/$id" \
            | python3 -c 'import json,sys; h=json.load(sys.stdin).get("webhooks"); print(h[0]["url"] if h else "/hooks/"+sys.argv[1])' "$1"
    }
    local url_w1 url_w2
    url_w1=$("${api[@]}" -X POST "http://127.0.0.1:$port/api/v1/workflows" -d "$(python3 - <<'PY'
import json
nodes = [{"id": f"t{i}", "type": "template", "config": {"template": "step %d {{ input.body.who }}" % i}} for i in range(3)]
print(json.dumps({"name": "w1", "triggers": [{"type": "webhook", "path": "w1"}], "nodes": nodes,
                  "edges": [{"from": "t0", "to": "t1"}, {"from": "t1", "to": "t2"}]}))
PY
)" | hook_url w1)
    url_w2=$("${api[@]}" -X POST "http://127.0.0.1:$port/api/v1/workflows" -d "$(python3 - <<'PY'
import json
nodes = [{"id": f"t{i}", "type": "template", "config": {"template": "step %d {{ input.body.who }}" % i}} for i in range(10)]
nodes.append({"id": "all", "type": "merge"})
print(json.dumps({"name": "w2", "triggers": [{"type": "webhook", "path": "w2"}], "nodes": nodes,
                  "edges": [{"from": f"t{i}", "to": "all"} for i in range(10)]}))
PY
)" | hook_url w2)
    local hz before after line url
    hz=$(getconf CLK_TCK)
    for w in w1 w2; do
        if [ "$w" = w1 ]; then url=$url_w1; else url=$url_w2; fi
        WRK_METHOD=POST WRK_BODY='{"who": "load"}' WRK_TOKEN=$key wrk -t2 -c32 -d2s \
            -s benches/load/report.lua "http://127.0.0.1:$port$url" >/dev/null
        before=$(awk '{print $14 + $15}' /proc/$pid/stat)
        line=$(WRK_METHOD=POST WRK_BODY='{"who": "load"}' WRK_TOKEN=$key wrk -t2 -c32 -d"${seconds}s" \
            -s benches/load/report.lua "http://127.0.0.1:$port$url" | grep '^RESULT')
        after=$(awk '{print $14 + $15}' /proc/$pid/stat)
        python3 - "$label" "$w" "$line" "$before" "$after" "$hz" <<'PY'
import sys
label, w, line, before, after, hz = sys.argv[1:]
f = dict(kv.split("=") for kv in line.split()[1:])
cpu = (int(after) - int(before)) * 1000 / int(hz) / max(int(f["requests"]), 1)
print(f"{label} {w.upper()} req/s={float(f['rps']):.0f} p99_ms={f['p99_ms']} errors={f['errors']} cpu_ms={cpu:.3f}")
PY
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$work"
}

for round in $(seq 1 "$rounds"); do
    if (( round % 2 )); then
        measure "$old" "round $round old"; measure "$new" "round $round new"
    else
        measure "$new" "round $round new"; measure "$old" "round $round old"
    fi
done
