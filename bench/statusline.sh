#!/usr/bin/env bash
# Measures whole `tollgate statusline` calls (process start to exit) with hyperfine.
#
# usage: bench/statusline.sh [BINARY] [EVENTS]
#
#   BINARY  default target/release/tollgate (else target/debug/tollgate, said in the output)
#   EVENTS  size of the store for the fallback case (default 100000; usage rows = 30 %)
#
# Cases:
#   cold            a new TOLLGATE_HOME every run: the store is created and migrated
#   warm            the documented input (rate_limits, context_window, cost): one UPSERT
#   warm, fallback  an older Claude Code's input (no rate_limits, context_window, cost) on a
#                   store of EVENTS events with a block budget: the figures come from the store
# Needs hyperfine (apt-get install hyperfine) and python3 (bench/gen-store.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

binary=${1:-target/release/tollgate}
events=${2:-100000}
if [[ ! -x $binary ]]; then
    binary=target/debug/tollgate
    echo "no release build: measuring the DEBUG build $binary (cargo build --release -p tollgate for real figures)" >&2
fi
binary=$(realpath "$binary")
command -v hyperfine >/dev/null || { echo "hyperfine is missing: apt-get install hyperfine" >&2; exit 1; }

work=$(realpath -m target/bench/statusline)
rm -rf "$work"
mkdir -p "$work/warm" "$work/fallback"
input=hook/tests/fixtures/statusline-input.json
# The documented input with its windows resetting in the future.
python3 - "$input" "$work/input.json" "$work/old-input.json" <<'EOF'
import json, sys, time
doc = json.load(open(sys.argv[1]))
doc["rate_limits"]["five_hour"]["resets_at"] = int(time.time()) + 3600
doc["rate_limits"]["seven_day"]["resets_at"] = int(time.time()) + 86400
json.dump(doc, open(sys.argv[2], "w"))
doc["session_id"] = "bench-session-000000"
for key in ("rate_limits", "context_window", "cost"):
    doc.pop(key)
json.dump(doc, open(sys.argv[3], "w"))
EOF
printf '[[policy]]\nname = "budget"\n[policy.config]\nblock_usd = 20.0\n' > "$work/fallback/config.toml"
python3 bench/gen-store.py "$binary" "$work/fallback/tollgate.db" "$events" $((events * 3 / 10))

export NO_COLOR=1
unset TOLLGATE_LOG
hyperfine --warmup 5 --runs 200 --style basic \
    --export-markdown "$work/results.md" \
    --prepare "rm -rf '$work/cold'" \
    -n "cold (new store)" "TOLLGATE_HOME='$work/cold' '$binary' statusline < '$work/input.json'" \
    --prepare true \
    -n "warm" "TOLLGATE_HOME='$work/warm' '$binary' statusline < '$work/input.json'" \
    --prepare true \
    -n "warm, fallback ($events events)" \
    "TOLLGATE_HOME='$work/fallback' '$binary' statusline < '$work/old-input.json'"
echo
echo "$(nproc) cores, $(date +%F), $binary"
cat "$work/results.md"
