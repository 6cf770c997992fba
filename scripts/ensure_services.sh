#!/usr/bin/env bash
# Starts PostgreSQL, Redis and RabbitMQ on this machine when they are not answering
# (the commands of the machine page; a no-op where they already run, as on our machines).
set -o errexit -o nounset -o pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2
  for _ in $(seq 1 60); do port_open "$port" && return 0; sleep 1; done
  echo "ensure_services: $name is still not answering on port $port" >&2
  return 1
}

if ! port_open 5432; then
  echo "ensure_services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  wait_port 5432 PostgreSQL
fi
if ! port_open 6379; then
  echo "ensure_services: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379 Redis
fi
if ! port_open 5672; then
  echo "ensure_services: starting RabbitMQ"
  rabbitmq-server -detached
  wait_port 5672 RabbitMQ
fi
