#!/usr/bin/env bash
# The roles of the st-chat image (see docker-compose.yml):
#   postgres      Postgres 15 in /var/lib/stchat/pgdata (initialised on first start, role and
#                 database stchat, trust auth inside the compose network)
#   nats          nats-server with JetStream, store in /var/lib/stchat/nats
#   anything else is run as given, e.g. `stchat ingest --nats nats://nats:4222`
set -euo pipefail
PG_BIN=/usr/lib/postgresql/15/bin
case "${1:-}" in
postgres)
    data=/var/lib/stchat/pgdata
    mkdir -p "$data" && chown -R postgres: "$(dirname "$data")"
    if [ ! -f "$data/PG_VERSION" ]; then
        runuser -u postgres -- "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
        echo "host all all 0.0.0.0/0 trust" >> "$data/pg_hba.conf"
        runuser -u postgres -- "$PG_BIN/postgres" -D "$data" --single postgres <<'SQL' >/dev/null
CREATE ROLE stchat LOGIN CREATEDB CREATEROLE;
CREATE DATABASE stchat OWNER stchat;
SQL
    fi
    exec runuser -u postgres -- "$PG_BIN/postgres" -D "$data" -c listen_addresses='*' -k /tmp
    ;;
nats)
    exec /usr/sbin/nats-server -js -sd /var/lib/stchat/nats -p 4222 -m 8222
    ;;
*)
    exec "$@"
    ;;
esac
