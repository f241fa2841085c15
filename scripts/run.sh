#!/usr/bin/env bash
# Runs st-chat on this machine: installs what is missing, builds, starts Postgres and nats-server
# (data kept in .stchat/ across restarts), migrates, then runs the two feed simulators, the ingest
# the projector and the chat server (port 8888) in the foreground. Ctrl-C stops everything this script started.
#
# Environment (all optional):
#   STCHAT_HOME      data folder (default: <repo>/.stchat)
#   STCHAT_PGPORT    port of the local Postgres (default 15432)
#   STCHAT_NATS_PORT port of the local nats-server (default 4222)
#   STCHAT_CHAT_PORT port of the chat server and web client (default 8888)
#   STCHAT_CHAT_NODES chat processes (default 1); more than 1: they listen on STCHAT_CHAT_NODE_PORT
#                    (default 18881), +1, ... and HAProxy serves the chat port in front of them
#   STCHAT_CHAT_HOSTS host names people reach the chat by, comma-separated (default: none;
#                    localhost and IP addresses always work), e.g. chat.example.com
#   STCHAT_INGEST_METRICS_PORT, STCHAT_PROJECT_METRICS_PORT  /healthz and /metrics of the ingest
#                    and the projector (default 8891 and 8892)
#   STCHAT_DATABASE  use this existing Postgres (a URI) instead of starting one
#   NATS_URL         use this existing NATS (with JetStream) instead of starting one
#   SPORT_RATE, EXECUTION_RATE  simulated messages per second (default 5 and 20; 0 = no feed)
#   STCHAT_OUTBOX    0: do not run the outbox to JetStream (default 1)
#   STCHAT_WSCAT     0: do not install wscat (npm) into .stchat/tools (default 1)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

home=${STCHAT_HOME:-$STCHAT_ROOT/.stchat}
pgport=${STCHAT_PGPORT:-15432}
natsport=${STCHAT_NATS_PORT:-4222}
mkdir -p "$home"

stchat_install_packages
# wscat, the WebSocket client the original st-chat's users knew (README): from npm, into the data
# folder (nothing installed globally). Needs Node.js's npm: installed from Debian when missing.
wscat_bin=$home/tools/node_modules/.bin/wscat
if [ ! -x "$wscat_bin" ] && [ "${STCHAT_WSCAT:-1}" != 0 ]; then
    command -v npm >/dev/null || stchat_install_packages nodejs npm
    stchat_log "installing wscat (npm) into $home/tools"
    npm install --silent --no-audit --no-fund --prefix "$home/tools" wscat@6 >/dev/null 2>&1 \
        || stchat_log "wscat not installed (npm failed); the web client works without it"
fi
stchat_log "building (first build takes a few minutes on 2 cores)"
stchat_build OFF
stchat=$STCHAT_ROOT/build/stchat

pids=()
pgdir=""
cleanup() {
    trap - INT TERM EXIT
    stchat_log "stopping"
    rm -f "$home/connection"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "${STCHAT_NATS_STARTED:-0}" = 1 ]; then stchat_stop_nats "$home/nats"; fi
    if [ "${STCHAT_PG_STARTED:-0}" = 1 ]; then stchat_stop_postgres "$pgdir"; fi
    stchat_log "stopped"
}
trap cleanup INT TERM EXIT

if [ -n "${STCHAT_DATABASE:-}" ]; then
    database=$STCHAT_DATABASE
else
    pgdir=$(stchat_pg_dir "$home/pgdata")
    stchat_start_postgres "$pgdir" "$pgport"
    database="postgresql://stchat@127.0.0.1:$pgport/stchat"
fi
if [ -n "${NATS_URL:-}" ]; then
    nats=$NATS_URL
else
    stchat_start_nats "$home/nats" "$natsport"
    nats="nats://127.0.0.1:$natsport"
fi

"$stchat" migrate --database "$database"

# Recorded for the stchat commands people type in other terminals (stchat status, replay ...):
# they connect here when given no --database / --nats (docs/operations.md). Removed on stop.
printf 'database=%s\nnats=%s\n' "$database" "$nats" > "$home/connection"

# Each component's log lines, prefixed with its name.
start() {
    local name=$1; shift
    "$@" > >(sed -u "s/^/[$name] /" >&2) 2>&1 &
    pids+=($!)  # the component itself, so SIGTERM reaches it
}
ingest_metrics=${STCHAT_INGEST_METRICS_PORT:-8891}
project_metrics=${STCHAT_PROJECT_METRICS_PORT:-8892}
start ingest "$stchat" ingest --database "$database" --nats "$nats" --metrics-port "$ingest_metrics"
start project "$stchat" project --database "$database" --metrics-port "$project_metrics"
# The log published to JetStream (subjects stchat.<stream>) for other services; STCHAT_OUTBOX=0: off.
if [ "${STCHAT_OUTBOX:-1}" != 0 ]; then
    start outbox "$stchat" outbox --database "$database" --nats "$nats" --metrics-port "${STCHAT_OUTBOX_METRICS_PORT:-8893}"
fi
chat_port=${STCHAT_CHAT_PORT:-8888}
nodes=${STCHAT_CHAT_NODES:-1}
[[ "$nodes" =~ ^[1-9][0-9]?$ ]] || stchat_die "STCHAT_CHAT_NODES must be 1 to 99 (is '$nodes')"
if [ "$nodes" = 1 ]; then
    start chat "$stchat" chat --database "$database" --port "$chat_port" --web "$STCHAT_ROOT/web" \
        ${STCHAT_CHAT_HOSTS:+--allow-host "$STCHAT_CHAT_HOSTS"}
else
    # Several chat processes on ports STCHAT_CHAT_NODE_PORT, +1 ..., HAProxy on the chat port.
    servers=()
    for i in $(seq 1 "$nodes"); do
        node_port=$(( ${STCHAT_CHAT_NODE_PORT:-18881} + i - 1 ))
        start "chat$i" "$stchat" chat --database "$database" --port "$node_port" --web "$STCHAT_ROOT/web" \
            ${STCHAT_CHAT_HOSTS:+--allow-host "$STCHAT_CHAT_HOSTS"}
        servers+=("127.0.0.1:$node_port")
    done
    stchat_haproxy_config "$chat_port" "${servers[@]}" > "$home/haproxy.cfg"
    start haproxy haproxy -db -f "$home/haproxy.cfg"
fi
if [ "${SPORT_RATE:-5}" != 0 ]; then
    start feed-sport "$stchat" feed sport_event --nats "$nats" --rate "${SPORT_RATE:-5}"
fi
if [ "${EXECUTION_RATE:-20}" != 0 ]; then
    start feed-exec "$stchat" feed execution --nats "$nats" --rate "${EXECUTION_RATE:-20}"
fi

cat >&2 <<MSG

  st-chat is running.
    Chat: http://localhost:${STCHAT_CHAT_PORT:-8888}/   ($nodes chat process(es)$([ "$nodes" -gt 1 ] && echo ' behind HAProxy'))
          or: $wscat_bin --connect ws://localhost:${STCHAT_CHAT_PORT:-8888}
    Operations: http://localhost:${STCHAT_CHAT_PORT:-8888}/ops   (charts of the last 10 minutes)
  In another terminal:
    psql $database -c 'select * from event order by timestamp desc limit 5'
    psql $database -c 'select * from execution order by timestamp desc limit 5'
    psql $database -c 'select count(*) from undecodable'
    psql $database -c 'select * from chat_log order by position desc limit 10'
    $stchat status                       (connects where this script runs: .stchat/connection)
    $stchat replay --from 1 --format pretty | head
    curl -s localhost:$ingest_metrics/metrics   (projector: $project_metrics, outbox: ${STCHAT_OUTBOX_METRICS_PORT:-8893}, chat: ${STCHAT_CHAT_PORT:-8888})
  Ctrl-C stops everything.

MSG
wait
