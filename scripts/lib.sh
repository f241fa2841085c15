# Shared by scripts/run.sh and scripts/test.sh: packages, build, and the local Postgres and NATS.
# Source it; every function is safe to call twice.

STCHAT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=/usr/lib/postgresql/15/bin

stchat_log() { printf '\033[1m[st-chat]\033[0m %s\n' "$*" >&2; }
stchat_die() { stchat_log "error: $*"; exit 1; }

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

STCHAT_PACKAGES=(g++ cmake ninja-build pkg-config ccache git
    libnats-dev nats-server libprotobuf-dev protobuf-compiler libpqxx-dev libpq-dev
    libasio-dev libwebsocketpp-dev rapidjson-dev libboost-test-dev libssl-dev libsodium-dev
    postgresql-15 postgresql-client-15 haproxy)

# Installs the Debian packages that are missing (and any extra ones named).
stchat_install_packages() {
    local missing=() p
    for p in "${STCHAT_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    stchat_log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# Builds build/stchat (and the tests with STCHAT_TESTS=ON). ccache keeps rebuilds cheap.
stchat_build() {
    local tests=${1:-OFF}
    export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/stchat-ccache}
    cmake -S "$STCHAT_ROOT" -B "$STCHAT_ROOT/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DSTCHAT_TESTS="$tests" >/dev/null
    cmake --build "$STCHAT_ROOT/build" -j2
}

# PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user.
pg_user() { if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi; }
as_pg() {
    # From /: the postgres user may not be allowed into the current folder.
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# A folder the Postgres user can write: $1 if it can reach it, else one under /var/tmp.
stchat_pg_dir() {
    local want=$1
    mkdir -p "$want"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$want"
        if ! runuser -u postgres -- test -w "$want"; then
            want=/var/tmp/stchat-pg-$(printf '%s' "$want" | md5sum | cut -c1-12)
            mkdir -p "$want" && chown postgres: "$want"
        fi
    fi
    echo "$want"
}

# stchat_start_postgres DATADIR PORT: initdb on first use, start unless running, create the
# stchat role and database. Trust authentication on 127.0.0.1 and the socket in DATADIR only.
stchat_start_postgres() {
    local dir=$1 port=$2
    if [ ! -f "$dir/PG_VERSION" ]; then
        stchat_log "initialising Postgres in $dir"
        as_pg "$PG_BIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    if as_pg "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
        stchat_log "Postgres already running in $dir"
        STCHAT_PG_STARTED=0
    else
        stchat_log "starting Postgres on 127.0.0.1:$port"
        as_pg "$PG_BIN/pg_ctl" -D "$dir" -w -t 60 -l "$dir/server.log" \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=${STCHAT_PG_FSYNC:-on}" \
            start >/dev/null || { tail -20 "$dir/server.log" >&2; stchat_die "Postgres did not start"; }
        STCHAT_PG_STARTED=1
    fi
    psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -qtA -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT 'CREATE ROLE stchat LOGIN CREATEDB CREATEROLE' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'stchat')
\gexec
SELECT 'ALTER ROLE stchat CREATEROLE' FROM pg_roles WHERE rolname = 'stchat' AND NOT rolcreaterole
\gexec
SELECT 'CREATE DATABASE stchat OWNER stchat' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'stchat')
\gexec
SQL
}

stchat_stop_postgres() {
    local dir=$1
    as_pg "$PG_BIN/pg_ctl" -D "$dir" -w -m fast stop >/dev/null 2>&1 || true
}

# Waits until something accepts TCP connections on 127.0.0.1:$1.
stchat_wait_port() {
    local port=$1 i
    for i in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# stchat_start_nats DATADIR PORT: nats-server with JetStream, its store in DATADIR.
stchat_start_nats() {
    local dir=$1 port=$2
    mkdir -p "$dir"
    if [ -f "$dir/nats.pid" ] && kill -0 "$(cat "$dir/nats.pid")" 2>/dev/null; then
        stchat_log "nats-server already running (pid $(cat "$dir/nats.pid"))"
        STCHAT_NATS_STARTED=0
        return 0
    fi
    stchat_log "starting nats-server with JetStream on 127.0.0.1:$port"
    /usr/sbin/nats-server -a 127.0.0.1 -p "$port" -js -sd "$dir/jetstream" -P "$dir/nats.pid" \
        -l "$dir/nats.log" &
    STCHAT_NATS_STARTED=1
    stchat_wait_port "$port" || stchat_die "nats-server did not start (see $dir/nats.log)"
}

stchat_stop_nats() {
    local dir=$1
    if [ -f "$dir/nats.pid" ]; then
        local pid; pid=$(cat "$dir/nats.pid")
        kill "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        rm -f "$dir/nats.pid"
    fi
}

# Builds the libFuzzer targets (clang, ASan + UBSan) in build-fuzz/: only the fuzzers and what
# they link (cmake/stchat_fuzzing.cmake). The tests run them from there.
stchat_build_fuzzers() {
    export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/stchat-ccache}
    cmake -S "$STCHAT_ROOT" -B "$STCHAT_ROOT/build-fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DSTCHAT_TESTS=OFF \
        -DSTCHAT_FUZZ=ON >/dev/null
    cmake --build "$STCHAT_ROOT/build-fuzz" -j2 --target stchat_fuzzers
}

# HAProxy in front of several chat processes (scripts/run.sh with STCHAT_CHAT_NODES, the
# multi-node tests): prints its configuration. No stickiness: any node serves any user (a client
# resumes by token and `since`). A node is taken out when its /healthz fails twice (Postgres
# unreachable, relay behind: 503), and put back after two passes; a connection refused by a dead
# node is sent to another. WebSockets (after the upgrade) are tunnels: pings every 20 s keep them
# busy, so the 2-minute tunnel timeout only ends connections nobody answers.
#   stchat_haproxy_config <listen port> <host:port of a chat process>...
# With STCHAT_HAPROXY_RESOLVER=<dns server:port> (docker-compose: 127.0.0.11:53) each host is a
# DNS name whose addresses are the chat processes (replicas), up to 10 per name.
stchat_haproxy_config() {
    local port=$1 i=0 s fds maxconn=20000
    shift
    # Two descriptors per connection, within what this shell may open (HAProxy refuses to start
    # when maxconn needs more than the hard limit).
    fds=$(ulimit -Hn)
    if [ "$fds" != unlimited ] && [ $(( (fds - 100) / 2 )) -lt $maxconn ]; then maxconn=$(( (fds - 100) / 2 )); fi
    if [ -n "${STCHAT_HAPROXY_RESOLVER:-}" ]; then
        printf 'resolvers dns\n    nameserver dns %s\n    hold valid 2s\n\n' "$STCHAT_HAPROXY_RESOLVER"
    fi
    cat <<CFG
global
    maxconn $maxconn
    hard-stop-after 5s

defaults
    mode http
    timeout connect 2s
    timeout http-request 10s
    timeout client 75s
    timeout server 75s
    timeout tunnel 2m
    timeout client-fin 5s
    timeout server-fin 5s
    retries 2
    option redispatch

frontend chat
    bind :$port
    default_backend chat_nodes

backend chat_nodes
    balance leastconn
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
    default-server inter 1s fastinter 500ms downinter 1s fall 2 rise 2
CFG
    for s in "$@"; do
        i=$((i + 1))
        if [ -n "${STCHAT_HAPROXY_RESOLVER:-}" ]; then
            echo "    server-template chat${i}- 10 $s check resolvers dns init-addr none"
        else
            echo "    server chat$i $s check"
        fi
    done
}
