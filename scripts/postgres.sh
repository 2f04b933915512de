#!/usr/bin/env bash
# A throw-away PostgreSQL server for tests and local trials: Debian's PostgreSQL binaries, a fresh
# data folder, listening on loopback only (TCP on the given port, no Unix socket outside the data
# folder), trust authentication for local connections, one database `parts`.
#
#   scripts/postgres.sh start <dir> <port>   initdb <dir>/data (when absent) and start; prints the URL
#   scripts/postgres.sh stop <dir>           fast shutdown (the data folder stays; rm -rf it yourself)
#   scripts/postgres.sh url <dir> <port>     the connection URL
#
# PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user (Debian's
# package creates it), which must be able to write <dir>. Binaries: PG_BIN, else the newest
# /usr/lib/postgresql/<version>/bin, else initdb/pg_ctl on PATH.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
port=${3:-}
[[ -n $cmd && -n $dir ]] || { echo "usage: $0 start|stop|url <dir> [port]" >&2; exit 2; }

find_bin() {
  if [[ -n ${PG_BIN:-} ]]; then echo "$PG_BIN"; return; fi
  local v
  v=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n $v && -x $v/pg_ctl ]]; then echo "$v"; return; fi
  if command -v pg_ctl >/dev/null 2>&1; then dirname "$(command -v pg_ctl)"; return; fi
  echo "postgres.sh: PostgreSQL binaries not found (install Debian's postgresql package, or set PG_BIN)" >&2
  exit 3
}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

url() { echo "postgres://${DB_USER}@127.0.0.1:${port}/parts"; }

if [[ $(id -u) -eq 0 ]]; then DB_USER=postgres; else DB_USER=$(id -un); fi

case $cmd in
  start)
    [[ $port =~ ^[0-9]+$ ]] || { echo "postgres.sh start: port must be a number (got '${port}')" >&2; exit 2; }
    bin=$(find_bin)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ $(id -u) -eq 0 ]]; then chown postgres "$dir"; fi
    if [[ ! -f $dir/data/PG_VERSION ]]; then
      as_owner "$bin/initdb" -D "$dir/data" -U "$DB_USER" --auth=trust --encoding=UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # fsync off: a test database is thrown away, and a shared CI machine is slow enough already.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-h 127.0.0.1 -p $port -k $dir/data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" start >/dev/null ||
      { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U "$DB_USER" -d postgres -qtAc "SELECT 1 FROM pg_database WHERE datname='parts'" | grep -q 1 ||
      as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$DB_USER" parts
    url
    ;;
  stop)
    bin=$(find_bin)
    [[ -f $dir/data/postmaster.pid ]] || exit 0
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
    ;;
  url)
    url
    ;;
  *)
    echo "usage: $0 start|stop|url <dir> [port]" >&2
    exit 2
    ;;
esac
