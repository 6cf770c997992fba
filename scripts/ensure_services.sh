#!/usr/bin/env bash
# Makes PostgreSQL, Redis and RabbitMQ answer on this machine with the local facts of DESIGN.md
# section 11: PostgreSQL on 127.0.0.1:5432 (trust auth for local TCP, superuser `postgres`),
# Redis on 6379, RabbitMQ on 5672 with guest/guest. Installs what is missing from Debian's
# packages (needs root), configures it, and starts it.
#
#   scripts/ensure_services.sh                       all three
#   scripts/ensure_services.sh postgres|redis|rabbitmq ...   only those (the fault suite restarts one)
#
# Idempotent; returns at once when everything already answers.
set -o errexit -o nounset -o pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(postgres redis rabbitmq)

declare -A port=([postgres]=5432 [redis]=6379 [rabbitmq]=5672)
declare -A package=([postgres]=postgresql [redis]=redis-server [rabbitmq]=rabbitmq-server)
declare -A command=([postgres]=pg_ctlcluster [redis]=redis-server [rabbitmq]=rabbitmq-server)

down=()
for service in "${wanted[@]}"; do
  [ -n "${port[$service]:-}" ] || { echo "usage: $0 [postgres|redis|rabbitmq ...]" >&2; exit 2; }
  port_open "${port[$service]}" || down+=("$service")
done
[ ${#down[@]} -eq 0 ] && exit 0

wait_port() {
  local name=$1
  for _ in $(seq 1 120); do port_open "${port[$name]}" && return 0; sleep 0.5; done
  echo "ensure_services: $name is still not answering on port ${port[$name]}" >&2
  return 1
}

install_missing() {
  local missing=()
  for service in "${down[@]}"; do
    command -v "${command[$service]}" >/dev/null 2>&1 || missing+=("${package[$service]}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure_services: please install these Debian packages (as root): ${missing[*]}" >&2
    exit 1
  fi
  echo "ensure_services: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Package scripts must not start daemons themselves: we start them below, the same way on
  # machines with and without an init system.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$created_policy" -eq 1 ] && rm -f "$policy"
  return 0
}

start_postgres() {
  local version conf
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  [ -n "$version" ] || { echo "ensure_services: no PostgreSQL cluster in /etc/postgresql" >&2; exit 1; }
  [ -d "/etc/postgresql/$version/main" ] || pg_createcluster "$version" main >/dev/null
  conf=/etc/postgresql/$version/main
  # Trust for TCP from this machine only (tests and tools connect as `postgres` without a
  # password); Unix sockets keep peer auth.
  sed -ri 's/^(host\s+\S+\s+\S+\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+\s*$/\1trust/' "$conf/pg_hba.conf"
  # The whole system (web pool, relay, four consumers, workers, tests) stays below 300.
  printf "listen_addresses = 'localhost'\nport = 5432\nmax_connections = 300\n" \
    >"$conf/conf.d/todo-local.conf"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
}

start_redis() {
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/local.log
}

start_rabbitmq() {
  rabbitmq-server -detached >/dev/null
}

install_missing
for service in "${down[@]}"; do
  echo "ensure_services: starting $service"
  "start_$service"
done
for service in "${down[@]}"; do wait_port "$service"; done
