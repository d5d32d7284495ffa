#!/usr/bin/env bash
# A throw-away PostgreSQL for the tests of gf-store's PostgreSQL store.
#
#   eval "$(bash scripts/ensure-postgres.sh start)"   # exports GF_TEST_POSTGRES_URL
#   bash scripts/ensure-postgres.sh stop
#
# `start` installs Debian's `postgresql` package when no PostgreSQL server
# is installed, creates a cluster in a temporary directory owned by an
# unprivileged user (PostgreSQL refuses to run as root), starts it on
# 127.0.0.1 on a free port with trust authentication, creates the database
# `gigafleet`, and prints the shell lines that export
# GF_TEST_POSTGRES_URL=postgres://gigafleet@127.0.0.1:PORT/gigafleet and
# GF_TEST_POSTGRES_STARTED (1 when this call started the cluster, 0 when it
# was already running). Idempotent: a running cluster is reused.
#
# `stop` stops the cluster this checkout started, through its data
# directory's postmaster.pid (pg_ctl), and removes the directory.
#
# The cluster's directory is /tmp/gigafleet-pg-<hash of this checkout's
# path> (GF_PG_DIR overrides), so two checkouts never share one.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "ensure-postgres: $*" >&2; }

key=$(printf '%s' "$PWD" | sha256sum | cut -c1-12)
base=${GF_PG_DIR:-/tmp/gigafleet-pg-$key}
data=$base/data
sock=$base/sock

# The newest installed server's binaries (Debian keeps them out of PATH).
pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
    echo "$d"
  fi
}

install_postgres() {
  log "installing Debian's postgresql package"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  inst() { $sudo apt-get update -qq && $sudo apt-get install -y -qq postgresql >&2; }
  if ! inst; then
    # The image's apt clean-up hook can fail the first dpkg run.
    log "install failed, retrying once"
    sleep 5
    $sudo dpkg --configure -a >&2 || true
    inst
  fi
}

# Who runs the server: root may not, so an unprivileged system user.
server_user() {
  if [ "$(id -u)" -ne 0 ]; then
    id -un
  elif id postgres >/dev/null 2>&1; then
    echo postgres
  else
    if ! id gfpg >/dev/null 2>&1; then
      useradd --system --no-create-home --shell /usr/sbin/nologin gfpg
    fi
    echo gfpg
  fi
}

as_user() {
  local user=$1
  shift
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u "$user" -- "$@")
  else
    "$@"
  fi
}

running() {
  [ -f "$data/postmaster.pid" ] && [ -f "$base/port" ] && [ -f "$base/user" ] &&
    as_user "$(cat "$base/user")" "$(pg_bin)/pg_ctl" -D "$data" status >/dev/null 2>&1
}

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  log "no free port found"
  return 1
}

print_env() {
  echo "export GF_TEST_POSTGRES_URL=postgres://gigafleet@127.0.0.1:$(cat "$base/port")/gigafleet"
  echo "export GF_TEST_POSTGRES_STARTED=$1"
}

start() {
  if [ -z "$(pg_bin)" ]; then install_postgres; fi
  local bin
  bin=$(pg_bin)
  if [ -z "$bin" ]; then
    log "no PostgreSQL server under /usr/lib/postgresql/*/bin after installing"
    exit 1
  fi
  if running; then
    log "reusing the cluster in $base"
    print_env 0
    return
  fi
  # Whatever is left of an earlier cluster that is not running is discarded.
  rm -rf "$base"
  local user port
  user=$(server_user)
  port=$(free_port)
  mkdir -p "$base" "$sock"
  chown "$user" "$base" "$sock"
  chmod 700 "$base"
  echo "$user" >"$base/user"
  echo "$port" >"$base/port"
  as_user "$user" "$bin/initdb" -D "$data" -U gigafleet -A trust -E UTF8 --locale=C --no-sync >"$base/initdb.log" 2>&1 ||
    { cat "$base/initdb.log" >&2; exit 1; }
  as_user "$user" "$bin/pg_ctl" -D "$data" -l "$base/server.log" -w -t 60 \
    -o "-k $sock -p $port -c listen_addresses=127.0.0.1 -c max_connections=200" start >&2 ||
    { cat "$base/server.log" >&2; exit 1; }
  as_user "$user" "$bin/createdb" -h 127.0.0.1 -p "$port" -U gigafleet gigafleet
  log "started PostgreSQL ($bin) on 127.0.0.1:$port, data in $data"
  print_env 1
}

stop() {
  if [ ! -d "$base" ]; then
    log "no cluster in $base"
    return
  fi
  if [ -f "$data/postmaster.pid" ] && [ -f "$base/user" ] && [ -n "$(pg_bin)" ]; then
    as_user "$(cat "$base/user")" "$(pg_bin)/pg_ctl" -D "$data" -m fast -w stop >&2 || true
  fi
  rm -rf "$base"
  log "stopped and removed the cluster in $base"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *)
    echo "usage: $0 [start|stop]" >&2
    exit 2
    ;;
esac
