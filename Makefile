# Weft's two set-up commands (see README.md):
#   make run   installs what is missing, builds the release and serves http://127.0.0.1:3000
#   make test  runs every test: unit, integration (SQLite; PostgreSQL when
#              WEFT_TEST_DATABASE_URL is set) and the Playwright browser tests
.PHONY: run test setup build load-bench history-bench cluster-bench waits-bench

setup:
	bash .ci/setup

build: setup
	bash .ci/with-tools cargo leptos build --release --split

run: build
	./target/release/weft serve

test: setup
	bash .ci/test

# Load benchmark (not part of `make test`): seeds 100,000 workflows and
# 1,000,000 executions, then measures webhooks and list pages with wrk.
load-bench:
	bash benches/load.sh

# The history at 10 million executions, on SQLite then PostgreSQL (not part of `make test`).
history-bench:
	bash benches/history.sh sqlite
	bash benches/history.sh postgres

# Scale-out benchmark (not part of `make test`): 1, 2 and 3 worker processes on
# one PostgreSQL, idle queries, and the time to take over a killed worker's runs.
cluster-bench:
	bash benches/cluster.sh

# Waiting-runs benchmark (not part of `make test`): 10,000 runs paused at a
# `wait` node in one process on PostgreSQL: memory, idle queries, resume time.
waits-bench:
	bash benches/waits.sh
