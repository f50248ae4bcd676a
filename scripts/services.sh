#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis the tests use answer: DATABASE_URL and REDIS_URL,
# by default this machine's (the defaults of scripts/test.sh). A local service that is
# installed but stopped is started; a missing one ends the run with the command that
# installs it. Services on other hosts are only checked, never started.
# Exits non-zero when a service cannot be reached.
set -euo pipefail

db_url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
redis_url="${REDIS_URL:-redis://127.0.0.1:6379/0}"

# host_port URL DEFAULT_PORT: prints "HOST PORT" of scheme://[user[:pass]@]host[:port]/...
host_port() {
  local rest=${1#*://}
  rest=${rest%%/*}
  rest=${rest##*@}
  local host=$rest port=$2
  if [[ $rest == \[* ]]; then # [ipv6]:port
    host=${rest%%]*}]
    [[ $rest == *]:* ]] && port=${rest##*]:}
  elif [[ $rest == *:* ]]; then
    host=${rest%:*}
    port=${rest##*:}
  fi
  echo "$host ${port:-$2}"
}

is_local() { [[ $1 == 127.0.0.1 || $1 == localhost || $1 == "[::1]" || -z $1 ]]; }

wait_for() { # wait_for SECONDS COMMAND...
  local n=$1
  shift
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  "$@" >/dev/null 2>&1
}

missing=()
failed=()

# PostgreSQL, unless DATABASE_URL names another database (SQLite).
if [[ $db_url == postgres://* || $db_url == postgresql://* ]]; then
  read -r pg_host pg_port < <(host_port "$db_url" 5432)
  pg_host=${pg_host:-127.0.0.1}
  pg_ready() { pg_isready -h "${pg_host//[\[\]]/}" -p "$pg_port" -q; }
  if ! command -v pg_isready >/dev/null; then
    missing+=("postgresql")
  elif ! pg_ready; then
    if is_local "$pg_host" && command -v pg_ctlcluster >/dev/null && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; then
      echo "starting PostgreSQL"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
      wait_for 30 pg_ready || failed+=("PostgreSQL on $pg_host:$pg_port")
    elif is_local "$pg_host" && ! command -v pg_ctlcluster >/dev/null; then
      missing+=("postgresql")
    else
      failed+=("PostgreSQL on $pg_host:$pg_port")
    fi
  fi
fi

# Redis.
read -r redis_host redis_port < <(host_port "$redis_url" 6379)
redis_host=${redis_host:-127.0.0.1}
redis_ready() { redis-cli -h "${redis_host//[\[\]]/}" -p "$redis_port" ping >/dev/null 2>&1; }
if ! command -v redis-cli >/dev/null; then
  missing+=("redis-server")
elif ! redis_ready; then
  if is_local "$redis_host" && command -v redis-server >/dev/null; then
    echo "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no >/dev/null || true
    wait_for 30 redis_ready || failed+=("Redis on $redis_host:$redis_port")
  elif is_local "$redis_host"; then
    missing+=("redis-server")
  else
    failed+=("Redis on $redis_host:$redis_port")
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "The tests need PostgreSQL and Redis; install them with: apt-get install ${missing[*]}" >&2
  exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "Not reachable: ${failed[*]} (check DATABASE_URL and REDIS_URL)" >&2
  exit 1
fi
