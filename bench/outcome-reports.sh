#!/usr/bin/env bash
# Times `report outcomes` and `report cache` on a large generated store, side by side with
# `report session` (the token report they sit next to), median of 3 runs each.
#
# usage: bench/outcome-reports.sh [EVENTS] [USAGE_ROWS]   (default 1000000 100000)
#
# The store comes from bench/gen-store.py (60 days, ~12 sessions a day); the outcomes of its
# PostToolUse events are then added as the hook records them: an edit with its lines for each
# call of a file tool, a commit for one Bash call in 20, and every session counted as watched.
# tollgate: $TOLLGATE_BIN, else target/release/tollgate (built if missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

events=${1:-1000000}
usage=${2:-100000}
tollgate=${TOLLGATE_BIN:-target/release/tollgate}
[[ -x $tollgate ]] || cargo build --release --locked -p tollgate
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
store=$dir/tollgate.db

python3 bench/gen-store.py "$tollgate" "$store" "$events" "$usage"
python3 - "$store" <<'EOF'
import random, sqlite3, sys
random.seed(7)
conn = sqlite3.connect(sys.argv[1])
with conn:
    rows = []
    for event_id, ts, session, project, tool in conn.execute(
            "SELECT id, ts_ms, session_id, project, tool_name FROM events"
            " WHERE event = 'PostToolUse' AND tool_name IN ('Edit', 'Write', 'Bash')"):
        if tool == 'Bash':
            if random.random() < 0.05:
                rows.append((event_id, ts, session, project, 'commit', None, None, None,
                             f"{random.getrandbits(28):07x}"))
        else:
            rows.append((event_id, ts, session, project, 'edit',
                         f"{project}/src/f{random.randint(0, 200)}.rs", random.randint(0, 40),
                         random.randint(0, 20), None))
    conn.executemany("INSERT INTO work (event_id, ts_ms, session_id, project, kind, file,"
                     " lines_added, lines_removed, detail) VALUES (?,?,?,?,?,?,?,?,?)", rows)
    conn.execute("UPDATE work_recorded_since SET since_ms = 0")
print(f"{len(rows)} outcomes")
conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
EOF

now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
median() {
    local times=()
    for _ in 1 2 3; do
        local start; start=$(now)
        "$@" >/dev/null
        times+=("$(calc "$(now) - $start")")
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n 2p
}

printf '\nstore: %s events, %s usage rows, %.0f MB; tollgate: %s\n\n' "$events" "$usage" \
    "$(calc "$(du -sb "$store" | cut -f1) / 1e6")" "$tollgate"
printf '| %-40s | %9s |\n' "report" "time"
printf '|%s|%s|\n' "------------------------------------------" "----------:"
for args in "session --json" "outcomes --json" "outcomes --by day --json" \
            "outcomes --by project --json" "cache --json" "cache --by day --json"; do
    # shellcheck disable=SC2086
    printf '| %-40s | %8.3fs |\n' "report $args" "$(median "$tollgate" report $args --store "$store" -z UTC)"
done
