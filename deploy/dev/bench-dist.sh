#!/usr/bin/env bash
# `make bench-dist`: yimen distributed on this machine — five release `yimen serve` processes on
# PostgreSQL and RabbitMQ, loopback only, with a database and a bus prefix of their own — put
# under `yimen bench --bus`, which first measures the machine's raw limits in the same run and
# prints yimen's ratio to them. Everything it made (database, queues, exchanges, processes,
# files) is removed when it ends, however it ends.
#
# BENCH_CASES, BENCH_CONCURRENCY and BENCH_RATE (cases/s offered; empty: all out) shape the load;
# BENCH_WATCH=0 leaves the departments' WatchAssignments streams out; BENCH_STATEMENTS=1 counts
# the SQL statements each process sent for the run's cases instead (every statement logged by
# the client, so no server setting changes; slower, so no raw limits and no reads then);
# YIMEN_BENCH_POSTGRES (an admin URL) and YIMEN_BENCH_AMQP point at other servers.
set -euo pipefail
cd "$(dirname "$0")/../.."

bin="${YIMEN_BIN:-${CARGO_TARGET_DIR:-target}/release/yimen}"
cases="${BENCH_CASES:-5000}"
concurrency="${BENCH_CONCURRENCY:-16}"
rate="${BENCH_RATE:-}"
statements="${BENCH_STATEMENTS:-0}"
admin="${YIMEN_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"
amqp="${YIMEN_BENCH_AMQP:-amqp://guest:guest@127.0.0.1:5672/%2f}"

id="$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
database="yimen_bench_${id}"
prefix="bench-${id}."
database_url="${admin%/*}/${database}"
work="$(mktemp -d -t yimen-bench-dist-XXXXXX)"
pids=()

cleanup() {
  status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql -q "$admin" -c "DROP DATABASE IF EXISTS ${database} WITH (FORCE)" >/dev/null 2>&1 || true
  # The queues expire by themselves (bus.queue_expires_secs) once the processes are gone.
  if command -v rabbitmqctl >/dev/null 2>&1; then
    rabbitmqctl -q eval "[rabbit_exchange:delete(element(2, X), false, <<\"bench\">>) || X <- rabbit_exchange:list(<<\"/\">>), binary:match(element(4, element(2, X)), <<\"${prefix}\">>) =:= {0, ${#prefix}}]." >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "bench-dist: database ${database}, bus prefix ${prefix}, logs in ${work}" >&2
psql -q "$admin" -c "CREATE DATABASE ${database}" >/dev/null
"$bin" auth init --dir "$work/keys" >/dev/null
"$bin" keys init --file "$work/keys/data.json" >/dev/null

export YIMEN__DATABASE__URL="$database_url"
export YIMEN__DATABASE__MAX_CONNECTIONS=16
export YIMEN__BUS__URL="$amqp"
export YIMEN__BUS__PREFIX="$prefix"
export YIMEN__BUS__QUEUE_EXPIRES_SECS=20
export YIMEN__AUTH__VERIFY_KEYS_FILE="$work/keys/jwks.json"
export YIMEN__AUTH__RATE_LIMIT_PER_SEC=0
export YIMEN__SECURITY__DATA_KEY_FILE="$work/keys/data.json"
export YIMEN__INTAKE__PETITIONER_KEY="bench-${id}"
export YIMEN__TELEMETRY__LOG_LEVEL=warn
token="$(YIMEN__AUTH__SIGNING_KEY_FILE="$work/keys/signing.pem" "$bin" token issue --role admin --subject bench --ttl 2h)"

"$bin" migrate >"$work/migrate.log" 2>&1
declare -A url metrics_url pid_of started ready
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# Ports first, so that the five start together and no start waits for another's ports.
for target in intake dispatch mediation analysis assessment; do
  url[$target]="http://127.0.0.1:$(free_port)"
  metrics_url[$target]="127.0.0.1:$(free_port)"
done
log_level="$YIMEN__TELEMETRY__LOG_LEVEL"
if [ "$statements" = 1 ]; then log_level="warn,sqlx::query=debug"; fi
for target in intake dispatch mediation analysis assessment; do
  upper="$(echo "$target" | tr '[:lower:]' '[:upper:]')"
  started[$target]="$(now_ms)"
  env "YIMEN__${upper}__LISTEN=${url[$target]#http://}" \
    "YIMEN__TELEMETRY__METRICS_LISTEN=${metrics_url[$target]}" \
    "YIMEN__TELEMETRY__LOG_LEVEL=${log_level}" \
    "$bin" serve --target "$target" >"$work/${target}.log" 2>&1 &
  pids+=("$!")
  pid_of[$target]="$!"
done
# Each process's time from start to its first passing readiness probe, the five probed at once
# (polled every 20 ms; a probe is itself a process start, so this is an upper bound).
probe() {
  local target="$1"
  for _ in $(seq 1 1500); do
    if "$bin" healthcheck --target "$target" --addr "${url[$target]}" >/dev/null 2>&1; then
      now_ms >"$work/${target}.ready"
      return 0
    fi
    if ! kill -0 "${pid_of[$target]}" 2>/dev/null; then
      echo "bench-dist: ${target} exited at start:" >&2
      tail -n 5 "$work/${target}.log" >&2
      return 1
    fi
    sleep 0.02
  done
  echo "bench-dist: ${target} not ready after 30 s" >&2
  return 1
}
probes=()
for target in intake dispatch mediation analysis assessment; do
  probe "$target" &
  probes+=("$!")
done
for p in "${probes[@]}"; do wait "$p" || exit 1; done
for target in intake dispatch mediation analysis assessment; do
  ready[$target]="$(cat "$work/${target}.ready")"
done
echo "bench-dist: five processes serving; joining the departments" >&2
echo "  the processes idle (ready after start, resident memory before any load):"
for target in intake dispatch mediation analysis assessment; do
  # Of it: the process's own memory (anonymous) and the pages of the binary and libraries.
  rss="$(awk '/^VmRSS/ {t = $2} /^RssAnon/ {a = $2} /^RssFile/ {f = $2}
    END {printf "%.1f MiB (own %.1f, binary and libraries %.1f)", t / 1024, a / 1024, f / 1024}' \
    "/proc/${pid_of[$target]}/status")"
  echo "    ${target}: ready $((ready[$target] - started[$target])) ms after start, RSS ${rss}"
done
"$bin" dept import deploy/departments.toml --dispatch "${url[dispatch]}" --token "$token" >&2

rate_flag=()
if [ -n "$rate" ]; then rate_flag=(--rate "$rate"); fi
# Every department's own system follows its work (WatchAssignments), as in a real installation.
if [ "${BENCH_WATCH:-1}" != 0 ]; then rate_flag+=(--watch); fi
measure_flags=(--raw-limits "$database_url")
declare -A mark
if [ "$statements" = 1 ]; then
  measure_flags=(--reads 0)
  # What each process logged before the load (start-up, joining the departments) is not counted.
  for target in intake dispatch mediation analysis assessment; do
    mark[$target]="$(wc -l <"$work/${target}.log")"
  done
fi
"$bin" bench --cases "$cases" --concurrency "$concurrency" "${rate_flag[@]}" \
  --intake "${url[intake]}" --dispatch "${url[dispatch]}" --mediation "${url[mediation]}" \
  --analysis "${url[analysis]}" --assessment "${url[assessment]}" --token "$token" \
  --bus "$amqp" --bus-prefix "$prefix" "${measure_flags[@]}"
if [ "$statements" = 1 ]; then
  counted=()
  for target in intake dispatch mediation analysis assessment; do
    tail -n "+$((mark[$target] + 1))" "$work/${target}.log" >"$work/${target}.counted"
    counted+=("${target}=$work/${target}.counted")
  done
  python3 deploy/dev/statements.py --cases "$cases" --top "${BENCH_STATEMENTS_TOP:-15}" "${counted[@]}"
fi

echo "  the processes (CPU time, peak memory):"
for pid in "${pids[@]}"; do
  target="$(tr '\0' ' ' <"/proc/${pid}/cmdline" | awk '{print $4}')"
  cpu="$(ps -o time= -p "$pid" | tr -d ' ')"
  peak="$(awk '/VmHWM/ {printf "%.1f MiB", $2 / 1024}' "/proc/${pid}/status")"
  echo "    ${target}: CPU ${cpu}, peak RSS ${peak}"
done
