#!/usr/bin/env bash
# Runs the browser tests and the client module's Node test: a scratch database on the test
# Postgres, a `stchat chat` on a free port (the client test starts and kills its own), then node's
# test runner. Called by CTest (see tests/CMakeLists.txt) with the stchat path.
# Further arguments: the test files to run (default: chat.test.mjs look.test.mjs client.test.mjs).
set -euo pipefail
stchat=$1
shift
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(chat.test.mjs look.test.mjs client.test.mjs)
here=$(cd "$(dirname "$0")" && pwd)
: "${STCHAT_TEST_DATABASE:?run through scripts/test.sh}"
db=t_web_$$
base=${STCHAT_TEST_DATABASE%/*}
psql "$STCHAT_TEST_DATABASE" -qc "CREATE DATABASE $db" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
       || echo $((20000 + $$ % 20000)))
"$stchat" migrate --database "$base/$db" --log-level warn
"$stchat" chat --database "$base/$db" --port "$port" --web "$here/../../web" &
server=$!
cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    psql "$STCHAT_TEST_DATABASE" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
cd "$here"
[ -d node_modules/playwright-core ] && [ -d node_modules/ws ] && [ -d node_modules/axe-core ] || npm ci --no-audit --no-fund >/dev/null
# One file at a time: a test may pause the shared server (SIGSTOP) to play a dead network.
status=0
for t in "${tests[@]}"; do
    STCHAT_CHAT_URL="http://127.0.0.1:$port/" STCHAT_SERVER_PID=$server STCHAT_BIN="$stchat" STCHAT_DB="$base/$db" \
        node --test "$t" || status=1
done
exit $status
