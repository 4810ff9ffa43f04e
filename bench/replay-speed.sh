#!/usr/bin/env bash
# Times `tollgate policy replay budget` on a generated store of 1M events and 1M responses over
# 60 days (bench/gen-store.py): the last ~10k events (14 hours of this store, a heavy user's
# week), and the whole last week (~117k events).
#
# usage: bench/replay-speed.sh
#
# The store is kept in target/bench/ for the next run. tollgate: $TOLLGATE_BIN, else
# target/release/tollgate (built if missing). Each replay runs 3 times; the median wall time is
# printed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tollgate=${TOLLGATE_BIN:-target/release/tollgate}
store=target/bench/replay-1m.db
[[ -x $tollgate ]] || cargo build --release --locked -p tollgate
if [[ ! -f $store ]]; then
    mkdir -p target/bench
    python3 bench/gen-store.py "$tollgate" "$store.tmp" 1000000 1000000
    mv "$store.tmp" "$store"
fi
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
export TOLLGATE_HOME=$home
cat > "$home/config.toml" <<'TOML'
[[policy]]
name = "budget"
enforce = true
[policy.config]
session_usd = 5.0
block_usd = 20.0
day_usd = 60.0
week_usd = 300.0
TOML

now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
for since in 14h 7d; do
    times=()
    for _ in 1 2 3; do
        start=$(now)
        "$tollgate" policy replay budget --since "$since" --store "$store" --json >"$home/out.json"
        times+=("$(calc "$(now) - $start")")
    done
    events=$(python3 -c "import json; print(json.load(open('$home/out.json'))['events'])")
    median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
    printf 'replay budget --since %-4s %7s events replayed  %6.2f s (median of 3)\n' "$since" "$events" "$median"
done
