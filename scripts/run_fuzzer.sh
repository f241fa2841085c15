#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time on a copy of its seed corpus (the repo's corpus is
# never written). Fails on any crash, leak, timeout or sanitizer report (libFuzzer exits non-zero
# and leaves the input that did it in the work folder, printed below).
#   scripts/run_fuzzer.sh build-fuzz/chat/fuzz/v1_frame_fuzz chat/fuzz/corpus/v1_frame_fuzz 20
set -euo pipefail
bin=$1 seeds=$2 seconds=${3:-20}
if [ ! -x "$bin" ]; then
    echo "no fuzz target at $bin: scripts/test.sh builds them (stchat_build_fuzzers in scripts/lib.sh)" >&2
    exit 1
fi
work=$(mktemp -d /tmp/stchat-fuzz.XXXXXX)
mkdir -p "$work/corpus" "$work/artifacts"
cp -r "$seeds"/. "$work/corpus/"
status=0
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=70000 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1 || status=$?
tail -n 25 "$work/log"
if [ "$status" -ne 0 ]; then
    echo "fuzzing failed (exit $status); the input that did it:" >&2
    ls -la "$work/artifacts" >&2
    for f in "$work/artifacts"/*; do [ -f "$f" ] && od -c "$f" | head -20 >&2; done
    exit "$status"
fi
rm -rf "$work"
