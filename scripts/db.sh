#!/usr/bin/env bash
# Starts, stops or describes the throwaway PostgreSQL that `make dev`,
# `make test` and `make bench` use when DATABASE_URL is not set.
#
#   scripts/db.sh start   start it if needed, print its URL on stdout
#   scripts/db.sh stop    stop it, only if this script started it
#   scripts/db.sh url     print its URL
#   scripts/db.sh fresh NAME  (re)create an empty database NAME on it and
#                         print its URL
#
# With a Docker engine answering, it runs the compose.yaml "postgres"
# service. Otherwise it runs the machine's PostgreSQL server binaries as an
# unprivileged user, with data under .data/postgres and its own port.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
port=${CLERKSYNC_DB_PORT:-55432}
data="$root/.data/postgres"
url="postgres://clerksync:clerksync@127.0.0.1:$port/clerksync?sslmode=disable"

log() { printf 'db: %s\n' "$*" >&2; }

have_docker() {
  command -v docker >/dev/null 2>&1 && timeout 5 docker info >/dev/null 2>&1
}

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return 0; }
  return 1
}

install_postgres() {
  if [ "$(id -u)" -ne 0 ]; then
    log "no PostgreSQL server binaries found; install Debian's postgresql package or set DATABASE_URL"
    exit 1
  fi
  log "installing Debian's postgresql package"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
}

# as_owner runs a command as the user that owns the data directory: the
# caller itself, or the "postgres" system user when the caller is root
# (the server refuses to run as root).
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u "$owner" -- "$@")
  else
    "$@"
  fi
}

ready() { "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; }

start_local() {
  bin=$(pg_bindir) || { install_postgres; bin=$(pg_bindir); }
  owner=$(id -un)
  if [ "$(id -u)" -eq 0 ]; then
    owner=postgres
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  fi

  # The server runs as another user when we are root: it must be able to
  # reach its data directory. A checkout under a private home directory
  # is not reachable, so the data then goes under /var/tmp instead.
  if [ "$(id -u)" -eq 0 ] && ! (cd / && runuser -u "$owner" -- test -x "$root") 2>/dev/null; then
    data="/var/tmp/clerksync-postgres-$(printf '%s' "$root" | md5sum | cut -c1-12)"
  fi

  if ready; then
    if [ -f "$data/postmaster.pid" ]; then
      return 0
    fi
    log "another PostgreSQL answers on port $port; not using a server this script did not start."
    log "Set CLERKSYNC_DB_PORT to a free port, or DATABASE_URL to use that server."
    exit 1
  fi

  mkdir -p "$data"
  if [ "$(id -u)" -eq 0 ]; then
    chown "$owner" "$data"
    chmod 700 "$data"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initialising a cluster in $data"
    local pw
    pw=$(mktemp)
    echo clerksync >"$pw"
    chmod 644 "$pw"
    as_owner "$bin/initdb" -D "$data" -U clerksync --pwfile="$pw" \
      --auth=scram-sha-256 -E UTF8 --locale=C >/dev/null
    rm -f "$pw"
  fi

  log "starting PostgreSQL on 127.0.0.1:$port"
  as_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='$data' -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null

  PGPASSWORD=clerksync "$bin/psql" -q -h 127.0.0.1 -p "$port" -U clerksync \
    -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='clerksync'" |
    grep -q 1 ||
    PGPASSWORD=clerksync "$bin/createdb" -h 127.0.0.1 -p "$port" -U clerksync clerksync
}

stop_local() {
  local alt="/var/tmp/clerksync-postgres-$(printf '%s' "$root" | md5sum | cut -c1-12)"
  [ -f "$data/postmaster.pid" ] || data=$alt
  [ -f "$data/postmaster.pid" ] || { log "not started by this script; nothing to stop"; return 0; }
  bin=$(pg_bindir)
  owner=$(stat -c %U "$data")
  as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  log "stopped"
}

case "${1:-}" in
  start)
    if have_docker; then
      docker compose -f "$root/compose.yaml" up -d --wait postgres >&2
    else
      start_local
    fi
    echo "$url"
    ;;
  stop)
    if have_docker; then
      docker compose -f "$root/compose.yaml" stop postgres >&2
    else
      stop_local
    fi
    ;;
  url)
    echo "$url"
    ;;
  fresh)
    name=${2:?usage: $0 fresh NAME}
    if have_docker; then
      docker compose -f "$root/compose.yaml" exec -T postgres \
        psql -q -U clerksync -d postgres -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name" >&2
    else
      bin=$(pg_bindir)
      PGPASSWORD=clerksync "$bin/psql" -q -h 127.0.0.1 -p "$port" -U clerksync -d postgres \
        -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name" >&2
    fi
    echo "${url%/clerksync?*}/$name?sslmode=disable"
    ;;
  *)
    echo "usage: $0 start|stop|url|fresh NAME" >&2
    exit 2
    ;;
esac
