#!/usr/bin/env bash
# Runs every st-chat test: installs what is missing, builds with tests and the fuzz targets,
# starts a throwaway Postgres (tests create a database each) and runs CTest (the fuzz targets
# run 20 s each). Tests start their own nats-server.
# Arguments are passed to ctest, e.g.: scripts/test.sh -R event_log
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# The browser tests drive Debian's Chromium with npm's playwright-core (no browser download);
# docker-compose checks docker-compose.yml (no Docker engine needed).
# The fuzz targets build with clang and its libFuzzer/sanitizer runtimes (libclang-rt-14-dev).
# The blackhole test makes a network namespace (iproute2) and drops packets with nftables.
test_packages=(chromium docker-compose clang libclang-rt-14-dev iproute2 nftables)
command -v npm >/dev/null || test_packages+=(nodejs npm)  # keep a Node.js the machine has
stchat_install_packages "${test_packages[@]}"
if [ ! -d "$STCHAT_ROOT/tests/web/node_modules/playwright-core" ] || [ ! -d "$STCHAT_ROOT/tests/web/node_modules/axe-core" ]; then
    stchat_log "installing playwright-core and axe-core for the browser tests"
    (cd "$STCHAT_ROOT/tests/web" && npm ci --no-audit --no-fund >/dev/null)
fi
stchat_log "building with tests"
stchat_build ON
stchat_log "building the fuzz targets (clang, ASan + UBSan)"
stchat_build_fuzzers

work=$(mktemp -d /tmp/stchat-tests.XXXXXX)
chmod 755 "$work"
pgdir=$(stchat_pg_dir "$work/pgdata")
pgport=${STCHAT_TEST_PGPORT:-15433}
# A running st-chat (or another test run) may hold the port: take the next free one.
while (exec 3<>"/dev/tcp/127.0.0.1/$pgport") 2>/dev/null; do pgport=$((pgport + 1)); done
cleanup() {
    stchat_stop_postgres "$pgdir"
    rm -rf "$work" "$pgdir"
}
trap cleanup EXIT
# fsync=off: a throwaway server. Crash tests stop Postgres the hard way (-m immediate), which
# loses no committed data without fsync; only an OS crash would.
STCHAT_PG_FSYNC=off stchat_start_postgres "$pgdir" "$pgport"

pg_ctl_cmd="$PG_BIN/pg_ctl -D $pgdir"
if [ "$(id -u)" = 0 ]; then pg_ctl_cmd="runuser -u postgres -- $pg_ctl_cmd"; fi
export STCHAT_TEST_DATABASE="postgresql://stchat@127.0.0.1:$pgport/stchat"
export STCHAT_TEST_PG_STOP="$pg_ctl_cmd -m immediate -w stop >/dev/null"
export STCHAT_TEST_PG_START="$pg_ctl_cmd -w -t 60 -l $pgdir/server.log -o '-p $pgport -k $pgdir -c listen_addresses=127.0.0.1 -c fsync=off' start >/dev/null"

# What tests leave for people to look at (screenshots of the web client).
export STCHAT_ARTIFACTS="$STCHAT_ROOT/build/test-artifacts"
mkdir -p "$STCHAT_ARTIFACTS"

stchat_log "running tests"
cd "$STCHAT_ROOT/build"
ctest --output-on-failure -j2 --timeout 900 "$@"
