#!/usr/bin/env bash
# Checks formatting and lints, then runs every test: unit and integration
# (SQLite always; PostgreSQL too when WEFT_TEST_DATABASE_URL names a database
# the tests may create databases from),
# then the Playwright browser tests against the release build in Debian's Chromium,
# then schemathesis fuzzing of the REST API against the same server.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"

if [ -n "${WEFT_TEST_DATABASE_URL:-}" ]; then
    echo "==> PostgreSQL tests run against ${WEFT_TEST_DATABASE_URL%%\?*}"
else
    echo "==> WEFT_TEST_DATABASE_URL is not set: the PostgreSQL tests are skipped"
fi

echo "==> format, import cycles between modules, and lints (the workspace's [workspace.lints], clippy with -D warnings)"

echo "==> unit and integration tests"

echo "==> release build (server + WASM)"
cargo leptos build --release --split

echo "==> browser tests"
e2e_dir="$(mktemp -d)"
export WEFT_DATABASE_URL="sqlite://$e2e_dir/weft.db"
# The bulk user's 100,000 workflows (the virtualized list's test), seeded before the server starts.
echo "bulk-password-1" | ./target/release/weft user create bulk@weft.test >/dev/null
./target/release/weft seed --email bulk@weft.test --workflows 100000 --executions 0
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
server=""
start_server() { # extra environment for the server, as NAME=VALUE arguments
    env "$@" ./target/release/weft serve --addr "127.0.0.1:$port" >>"$e2e_dir/server.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$server" 2>/dev/null || { cat "$e2e_dir/server.log"; exit 1; }
        sleep 0.1
    done
}
stop_server() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
cleanup() { stop_server; rm -rf "$e2e_dir"; }
trap cleanup EXIT
start_server
(cd end2end && WEFT_E2E_BASE_URL="http://127.0.0.1:$port" npx playwright test) || { echo "--- server log"; cat "$e2e_dir/server.log"; exit 1; }

echo "==> API fuzzing: requests generated from /api/v1/openapi.json must never get a 5xx"
# The fuzzer installs built-in templates and runs them with ?wait=true; some run
# for half a minute (the health check waits 30 s), longer than the fuzzer waits
# for an answer. A 5 s request timeout makes such a call a 408 (the run goes on).
stop_server
start_server WEFT_REQUEST_TIMEOUT_MS=5000
echo "fuzz-password-123" | ./target/release/weft user create fuzz@weft.invalid >/dev/null
key="$(./target/release/weft api-key create --user fuzz@weft.invalid 2>/dev/null)"
.tools/venv/bin/st run "http://127.0.0.1:$port/api/v1/openapi.json" -H "Authorization: Bearer $key" \
    --checks not_a_server_error --max-examples 50 --seed 1 --workers 1 \
    || { echo "--- server log"; cat "$e2e_dir/server.log"; exit 1; }
