#!/usr/bin/env bash
# Times tollgate's import, status line and reports against ccusage on a generated transcript
# corpus (tollgate reads its store, filled by one import; ccusage reads the transcripts).
#
# usage: bench/report-speed.sh [SIZE_MB]      (default 1000: a ~1 GB corpus)
#
# The corpus (bench/gen-transcripts.py, 60 days) is kept in target/bench/ for the next run.
# tollgate: $TOLLGATE_BIN, else target/release/tollgate (built if missing). ccusage: the npm
# package scripts/test installs into target/tools/ccusage. Each report runs 3 times; the
# table shows the median wall time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

size=${1:-1000}
corpus=target/bench/corpus-${size}mb
ccusage=target/tools/ccusage/node_modules/.bin/ccusage
tollgate=${TOLLGATE_BIN:-target/release/tollgate}

[[ -x $ccusage ]] || { echo "ccusage is missing: run scripts/test first (it installs it)" >&2; exit 1; }
[[ -x $tollgate ]] || cargo build --release --locked -p tollgate
if [[ ! -d $corpus ]]; then
    python3 bench/gen-transcripts.py "$corpus.tmp" --size-mb "$size" --days 60
    mv "$corpus.tmp" "$corpus"
fi
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
export TOLLGATE_HOME=$home CLAUDE_CONFIG_DIR=$corpus NO_COLOR=1

now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
# Median wall time of 3 runs of "$@" (output discarded), in seconds.
median() {
    local times=()
    for _ in 1 2 3; do
        local start; start=$(now)
        "$@" >/dev/null
        times+=("$(calc "$(now) - $start")")
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n 2p
}

bytes=$(du -sb "$corpus/projects" | cut -f1)
start=$(now)
"$tollgate" import --json >"$home/import.json"
import_s=$(calc "$(now) - $start")
again_s=$(median "$tollgate" import)

# The status line on the documented input, pointed at one of the corpus's sessions.
transcript=$(find "$corpus/projects" -name '*.jsonl' -not -path '*/subagents/*' | sort | sed -n 1p)
python3 - hook/tests/fixtures/statusline-input.json "$home/statusline.json" "$transcript" <<'EOF2'
import json, pathlib, sys
doc = json.load(open(sys.argv[1]))
doc["transcript_path"] = sys.argv[3]
doc["session_id"] = pathlib.Path(sys.argv[3]).stem
json.dump(doc, open(sys.argv[2], "w"))
EOF2
statusline() { "$@" <"$home/statusline.json"; }
t_status=$(median statusline "$tollgate" statusline)
c_status=$(median statusline "$ccusage" statusline --offline)
t_daily=$(median "$tollgate" report daily --json --breakdown)
t_blocks=$(median "$tollgate" report blocks --json)
c_daily=$(median "$ccusage" claude daily --json --breakdown --offline)
c_blocks=$(median "$ccusage" blocks --json --offline)

printf '\ncorpus: %s (%.0f MB, %s files); tollgate: %s; ccusage: %s\n' "$corpus" \
    "$(calc "$bytes / 1e6")" "$(find "$corpus/projects" -name '*.jsonl' | wc -l)" \
    "$tollgate" "$("$ccusage" --version)"
printf 'store after import: %.0f MB\n\n' "$(calc "$(du -sb "$home" | cut -f1) / 1e6")"
printf '| %-36s | %10s | %10s | %12s |\n' "step" "tollgate" "ccusage" "tollgate is"
printf '|%s|%s|%s|%s|\n' "--------------------------------------" "-----------:" "-----------:" "-------------:"
printf '| %-36s | %9.2fs | %10s | %12s |\n' "import (first, $(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["mb_per_second"]))' "$home/import.json") MB/s)" "$import_s" "-" "-"
printf '| %-36s | %9.2fs | %10s | %12s |\n' "import again (nothing new)" "$again_s" "-" "-"
row() { printf '| %-36s | %9.3fs | %9.2fs | %10.0fx faster |\n' "$1" "$2" "$3" "$(calc "$3 / $2")"; }
row "statusline" "$t_status" "$c_status"
row "report daily --json --breakdown" "$t_daily" "$c_daily"
row "report blocks --json" "$t_blocks" "$c_blocks"
