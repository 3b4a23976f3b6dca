#!/usr/bin/env bash
# Starts PostgreSQL and RabbitMQ on this machine when they are not already answering, and
# waits until they do. Used by `make test` and `.ci/run`; harmless when both are up.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
amqp_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if ! pg_up; then
  echo "starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  fi
  for _ in $(seq 1 60); do pg_up && break; sleep 1; done
  pg_up || { echo "PostgreSQL is not reachable at 127.0.0.1:5432" >&2; exit 1; }
fi

if ! amqp_up; then
  echo "starting RabbitMQ"
  if command -v rabbitmq-server >/dev/null 2>&1; then
    rabbitmq-server -detached || true
    timeout 120 rabbitmqctl await_startup || true
  fi
  for _ in $(seq 1 60); do amqp_up && break; sleep 1; done
  amqp_up || { echo "RabbitMQ is not reachable at 127.0.0.1:5672" >&2; exit 1; }
fi
echo "PostgreSQL and RabbitMQ are up"
