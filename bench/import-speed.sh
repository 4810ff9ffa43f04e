#!/usr/bin/env bash
# A user's first run, tollgate against ccusage, on generated transcript corpora: tollgate
# `import` then `report daily --json` into a fresh store, against `ccusage daily --json
# --offline` on the same transcripts. Runs alternate (tollgate, ccusage, tollgate, ...) so both
# see the same machine; the table shows the median wall time, MB/s over the corpus's bytes,
# the largest peak RSS of the runs (GNU time), and whether the token totals agree. A second
# table gives each tollgate report's time on the store the last import filled (median of RUNS;
# ccusage re-reads every transcript for each of its reports).
#
# usage: bench/import-speed.sh [SIZE_MB ...]      (default: 100 1000)
#   RUNS=N   runs of each tool per corpus (default 5)
#
# Corpora (bench/gen-transcripts.py, 60 days) are kept in target/bench/ for the next run.
# tollgate: $TOLLGATE_BIN, else target/release/tollgate (built if missing). ccusage: the npm
# package scripts/test installs into target/tools/ccusage. "Tokens equal": tollgate's totals
# minus the spaced-JSON lines ccusage skips (the corpus's differences.json) are ccusage's, for
# each of input, output, cache-write and cache-read tokens.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(100 1000)
runs=${RUNS:-5}
ccusage=target/tools/ccusage/node_modules/.bin/ccusage
tollgate=${TOLLGATE_BIN:-target/release/tollgate}

[[ -x $ccusage ]] || { echo "ccusage is missing: run scripts/test first (it installs it)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "GNU time (/usr/bin/time) is missing: apt-get install time" >&2; exit 1; }
[[ -x $tollgate ]] || cargo build --release --locked -p tollgate
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export NO_COLOR=1

now() { date +%s.%N; }
# Peak RSS in KiB from a GNU `time -v` log.
peak() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }

# One tollgate first run: a fresh store, import, daily report. Prints "seconds peak_kib".
tollgate_run() {
    local corpus=$1 home="$work/home"
    rm -rf "$home"
    local start; start=$(now)
    TOLLGATE_HOME=$home CLAUDE_CONFIG_DIR=$corpus /usr/bin/time -v -o "$work/t1" \
        "$tollgate" import --json >"$work/import.json"
    TOLLGATE_HOME=$home /usr/bin/time -v -o "$work/t2" \
        "$tollgate" report daily --json >"$work/tollgate.json"
    local end; end=$(now)
    local a b; a=$(peak "$work/t1"); b=$(peak "$work/t2")
    echo "$(python3 -c "print($end - $start)") $(( a > b ? a : b ))"
}

# One ccusage run. Prints "seconds peak_kib".
ccusage_run() {
    local corpus=$1
    local start; start=$(now)
    CLAUDE_CONFIG_DIR=$corpus /usr/bin/time -v -o "$work/c1" \
        "$ccusage" daily --json --offline >"$work/ccusage.json"
    local end; end=$(now)
    echo "$(python3 -c "print($end - $start)") $(peak "$work/c1")"
}

# Median seconds and largest peak (MiB) of "seconds peak_kib" lines on stdin.
summary() {
    python3 -c '
import statistics, sys
rows = [line.split() for line in sys.stdin if line.strip()]
print(statistics.median(float(r[0]) for r in rows), max(int(r[1]) for r in rows) / 1024)'
}

# Whether the last runs' token totals agree (see the header).
tokens_equal() {
    python3 - "$work/tollgate.json" "$work/ccusage.json" "$1/differences.json" <<'EOF'
import json, sys
t, c, d = (json.load(open(p)) for p in sys.argv[1:])
keys = ["inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens"]
extra = dict.fromkeys(keys, 0)
for line in d["spacedLines"]:
    u = line["usage"]
    split = u.get("cache_creation")
    extra["inputTokens"] += u.get("input_tokens", 0)
    extra["outputTokens"] += u.get("output_tokens", 0)
    extra["cacheCreationTokens"] += (
        split["ephemeral_5m_input_tokens"] + split["ephemeral_1h_input_tokens"]
        if split else u.get("cache_creation_input_tokens", 0))
    extra["cacheReadTokens"] += u.get("cache_read_input_tokens", 0)
mine = [t["totals"][k] - extra[k] for k in keys]
theirs = [c["totals"][k] for k in keys]
total = sum(c["totals"][k] for k in keys)
print(f"yes ({total:,} tokens)" if mine == theirs else f"NO: {mine} vs {theirs}")
EOF
}

views=(daily weekly monthly session models projects blocks)
# Median milliseconds of RUNS runs of `tollgate report VIEW --json` on the last run's store.
report_ms() {
    for ((i = 0; i < runs; i++)); do
        local start; start=$(now)
        TOLLGATE_HOME="$work/home" "$tollgate" report "$1" --json >/dev/null
        python3 -c "print(($(now) - $start) * 1000)"
    done | python3 -c 'import statistics, sys; print(round(statistics.median(float(l) for l in sys.stdin)))'
}

rows=()
report_rows=()
for size in "${sizes[@]}"; do
    corpus=target/bench/corpus-${size}mb
    if [[ ! -d $corpus ]]; then
        python3 bench/gen-transcripts.py "$corpus.tmp" --size-mb "$size" --days 60
        mv "$corpus.tmp" "$corpus"
    fi
    bytes=$(find "$corpus/projects" -name '*.jsonl' -printf '%s\n' | awk '{s += $1} END {printf "%.0f\n", s}')
    # Warm the page cache: both tools then read from memory.
    find "$corpus/projects" -name '*.jsonl' -exec cat {} + >/dev/null
    : >"$work/t.runs"; : >"$work/c.runs"
    for ((i = 0; i < runs; i++)); do
        tollgate_run "$corpus" >>"$work/t.runs"
        ccusage_run "$corpus" >>"$work/c.runs"
    done
    equal=$(tokens_equal "$corpus")
    read -r t_s t_mib < <(summary <"$work/t.runs")
    read -r c_s c_mib < <(summary <"$work/c.runs")
    import_s=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$work/import.json")
    rows+=("$(python3 - "$size" "$bytes" "$t_s" "$t_mib" "$c_s" "$c_mib" "$import_s" "$equal" <<'EOF'
import sys
size, b, ts, tm, cs, cm, imp, equal = sys.argv[1:]
b, ts, tm, cs, cm, imp = int(b), float(ts), float(tm), float(cs), float(cm), float(imp)
mb = b / 1e6
print(f"| {mb:,.0f} MB | {ts:.2f} s ({mb / ts:,.0f} MB/s; import {mb / imp:,.0f} MB/s) | {tm:.0f} MiB "
      f"| {cs:.2f} s ({mb / cs:,.0f} MB/s) | {cm:.0f} MiB | {cs / ts:.1f}x | {equal} |")
EOF
)")
    cells=""
    for view in "${views[@]}"; do cells+=" $(report_ms "$view") ms |"; done
    report_rows+=("| $(python3 -c "print(f'{$bytes / 1e6:,.0f} MB')") |$cells")
done

printf '\ntollgate: %s (%s); %s; %s runs each, interleaved; %s cores\n\n' \
    "$tollgate" "$("$tollgate" --version)" "$("$ccusage" --version)" "$runs" "$(nproc)"
echo "| corpus | tollgate import + report daily | peak RSS | ccusage daily | peak RSS | ccusage time ÷ tollgate time | tokens equal |"
echo "|---|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${rows[@]}"
echo
echo "| store of | $(printf '%s | ' "${views[@]}")"
echo "|---|$(printf -- '---:|%.0s' "${views[@]}")"
printf '%s\n' "${report_rows[@]}"
