#!/usr/bin/env bash
# docker-compose.yml, checked without a Docker engine (none runs on these machines): it is valid
# for docker-compose, it has the expected services, and it runs every stchat subcommand that
# scripts/run.sh starts, so the two ways of running st-chat cannot drift apart unnoticed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
/usr/bin/docker-compose -f docker-compose.yml config >/dev/null  # exits non-zero on an invalid file
services=$(/usr/bin/docker-compose -f docker-compose.yml config --services | sort | tr '\n' ' ')
expected="chat feed-execution feed-sport haproxy ingest migrate nats outbox postgres projector "
if [ "$services" != "$expected" ]; then
    echo "docker-compose.yml services: $services; expected: $expected" >&2
    exit 1
fi
# The stchat command lines of run.sh ("$stchat" <subcommand> [<argument>]) and of the compose file.
run_commands=$(sed -n 's/.*"\$stchat" \([a-z]*\)\( \([a-z_]*\)\)\{0,1\}.*/\1 \3/p' scripts/run.sh | sed 's/ *$//' | sort -u)
compose_commands=$(/usr/bin/docker-compose -f docker-compose.yml config | /usr/bin/python3 -c '
import sys, yaml
for name, s in yaml.safe_load(sys.stdin)["services"].items():
    c = s.get("command") or []
    if c[:1] == ["stchat"]:
        words = [w for w in c[1:3] if not w.startswith("-")]
        print(" ".join(words))
' | sort -u)
missing=$(comm -23 <(echo "$run_commands") <(echo "$compose_commands"))
if [ -n "$missing" ]; then
    echo "run.sh starts, docker-compose.yml does not: $missing" >&2
    exit 1
fi
# The HAProxy of the compose file: the configuration its command line makes is valid.
cfg=$(mktemp)
trap 'rm -f "$cfg"' EXIT
bash -c "source scripts/lib.sh && STCHAT_HAPROXY_RESOLVER=127.0.0.11:53 stchat_haproxy_config 8888 chat:8888" > "$cfg"
grep -q 'stchat_haproxy_config 8888 chat:8888' docker-compose.yml || { echo "docker-compose.yml: haproxy's command changed" >&2; exit 1; }
haproxy -c -q -f "$cfg" || { echo "the compose HAProxy configuration is invalid:" >&2; cat "$cfg" >&2; exit 1; }
echo "docker-compose.yml: 10 services, runs everything run.sh runs ($(echo $run_commands | tr '\n' ','))"
