#!/usr/bin/env bash
# A private PostgreSQL 15 for the demo and for trying Curator by hand:
#   deploy/local-postgres.sh start DIR   # initdb (once) and start; prints the conninfo
#   deploy/local-postgres.sh stop DIR
# It listens only on a Unix socket in DIR (no TCP port). PostgreSQL refuses
# to run as root, so under root it runs as the 'postgres' account.
set -euo pipefail
cmd=${1:?start or stop}
dir=$(realpath -m "${2:?directory}")
bindir=${CURATOR_PG_BINDIR:-/usr/lib/postgresql/15/bin}
as_server() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_server "$bindir/initdb" -D "$dir/data" -U curator -A trust -E UTF8 --no-locale >/dev/null
    fi
    # Keepalives and a user timeout, as a site should set them on its
    # server: a session whose client vanished ends within seconds, and
    # the locks it held with it (README, "Deploying on a cluster").
    as_server "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w \
      -o "-k $dir -c listen_addresses='' -c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3 -c tcp_user_timeout=15000" start >/dev/null
    echo "host=$dir port=5432 user=curator dbname=postgres"
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_server "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    fi
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 1 ;;
esac
