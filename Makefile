# yimen — the two commands are `make run` and `make test`.
# Builds share one target directory outside the clone, so a fresh clone reuses earlier builds.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/yimen/target
CARGO ?= cargo
DATA_DIR ?= data
BENCH_CASES ?= 5000
BENCH_CONCURRENCY ?= 16
MACHETE_VERSION ?= 0.9.2

.PHONY: run test lint fmt build services helm-check tools bench bench-dist bench-statements chaos

## run: yimen standalone — every service in one process on SQLite, departments seeded, the
## seven scenarios of the seed played through the gRPC API, then the three summaries
run:
	$(CARGO) run --bin yimen -- standalone --data-dir $(DATA_DIR) --seed deploy/departments.toml --demo

## build: the yimen binary
build:
	$(CARGO) build --bin yimen

## services: start PostgreSQL and RabbitMQ when they are not running
services:
	deploy/dev/ensure-services.sh

## test: every suite, against real PostgreSQL and RabbitMQ (the Python tools in .venv too: a
## test reads docs/asyncapi.yaml back with PyYAML, one renders the chart and runs it, one checks
## deploy/ with promtool)
test: services build .venv/helm-check.stamp tools
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi

## bench: a fresh standalone installation in one process (loopback only), release build:
## SubmitCase latency and rate, and the time until every case is routed and counted
bench:
	$(CARGO) run --release --bin yimen -- bench --cases $(BENCH_CASES) --concurrency $(BENCH_CONCURRENCY)

## bench-dist: five release `serve` processes on PostgreSQL + RabbitMQ (loopback, a database and a
## bus prefix of their own, removed at the end); the machine's raw limits measured in the same
## run, then SubmitCase and intake→assigned rates and latencies and the ratio to those limits
## (BENCH_RATE=200 offers a paced load; every department's WatchAssignments is followed through
## the run, BENCH_WATCH=0 leaves the streams out)
bench-dist: services
	$(CARGO) build --release --bin yimen
	BENCH_CASES=$(BENCH_CASES) BENCH_CONCURRENCY=$(BENCH_CONCURRENCY) BENCH_RATE=$(BENCH_RATE) BENCH_WATCH=$(BENCH_WATCH) deploy/dev/bench-dist.sh

## bench-statements: bench-dist's five processes for 500 cases, each logging the SQL statements
## it sends (the client's log: placeholders, never a value); then the statements and
## transactions for each case, per process, and the statements sent most
bench-statements: services
	$(CARGO) build --release --bin yimen
	BENCH_CASES=500 BENCH_WATCH=0 BENCH_STATEMENTS=1 deploy/dev/bench-dist.sh

## chaos: fault rounds under steady load on a private PostgreSQL, RabbitMQ and five release `serve`
## processes (loopback only, removed at the end): RabbitMQ restarted, PostgreSQL stopped at once,
## each service killed, a department leaving; then every accepted case checked against the
## stores — lost, double, timeline incomplete and time to resume, per round (CHAOS_RATE=50,
## CHAOS_STEADY_SECS=5, CHAOS_DOWN_SECS=2); exits 1 when a target is missed
chaos:
	$(CARGO) build --release --bin yimen
	$(CARGO_TARGET_DIR)/release/yimen chaos

## lint: formatting, clippy (warnings are errors) and no unused dependency (cargo-machete,
## installed at the pinned version when missing)
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@$(CARGO) machete --version >/dev/null 2>&1 || $(CARGO) install cargo-machete --locked --version $(MACHETE_VERSION)
	$(CARGO) machete

## fmt: format the workspace
fmt:
	$(CARGO) fmt --all

## helm-check: lint the Helm chart, render it with each ci/ values file and validate every object
## against Kubernetes 1.30 (strict); needs only python3 (no helm, docker or cluster)
helm-check: .venv/helm-check.stamp
	.venv/bin/python deploy/helm/check.py

## tools: promtool (Debian's prometheus package, unpacked into .tools/) for deploy/check.py
tools: .tools/prometheus/usr/bin/promtool

.tools/prometheus/usr/bin/promtool:
	deploy/dev/promtool.sh

# The pinned tools in .venv, installed again only when their list changes.
.venv/helm-check.stamp: deploy/helm/requirements.txt
	test -x .venv/bin/python || python3 -m venv .venv
	.venv/bin/python -m pip install --quiet --disable-pip-version-check -r deploy/helm/requirements.txt
	touch $@
