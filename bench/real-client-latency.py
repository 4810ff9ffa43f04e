#!/usr/bin/env python3
"""The hook's time as the real Claude Code sees it.

Runs the end-to-end suite (hook/tests/claude_code) on the release build with every sandbox
kept, then reads Claude Code's own debug log of each run: for every hook call it records the
command, the event and how long the call took, process start included. Beside tollgate's
calls it reports the witness hook the suite registers for the same events (`cat > file`), the
cheapest hook a command can be: the difference is what tollgate adds. Calls are paired per
event in the order they ran, so both columns count the same moments.

usage: bench/real-client-latency.py [--runs N]     (default 3 runs of the suite)

Needs Claude Code in target/tools/claude-code (scripts/test installs it). Builds the release
test binaries first (`cargo test --release`, about as long as `cargo build --release`).
"""
import argparse
import glob
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

LINE = re.compile(r"Hooks: (\w+)(?::\S+)? \[(.*)\] finished with status \d+ \((\d+)ms\)")


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(root)
    claude = "target/tools/claude-code/node_modules/.bin/claude"
    if not os.access(claude, os.X_OK):
        sys.exit("Claude Code is missing: run scripts/test once (it installs it)")
    version = subprocess.run([claude, "--version"], capture_output=True, text=True).stdout.strip()
    times = {"tollgate": [], "witness (cat)": []}
    for run in range(args.runs):
        keep = tempfile.mkdtemp(prefix="tollgate-e2e-")
        env = dict(os.environ, TOLLGATE_E2E_KEEP="1", TMPDIR=keep)
        subprocess.run(
            ["cargo", "test", "--release", "--locked", "-p", "tollgate", "--test", "claude_code",
             "--", "--test-threads=1"],
            env=env, check=True, stdout=subprocess.DEVNULL,
        )
        # The sandboxes are tempfile's hidden `.tmpXXXXXX` directories.
        for log in glob.glob(os.path.join(keep, ".*", "claude-debug.log")):
            # Calls of one event by both hooks, paired in order: the same moments of a run.
            by_event = {}
            for line in open(log, errors="replace"):
                m = LINE.search(line)
                if not m:
                    continue
                event, command, ms = m.group(1), m.group(2), int(m.group(3))
                if "tollgate" in command and "hook" in command:
                    by_event.setdefault(event, ([], []))[0].append(ms)
                elif command.startswith("cat >"):
                    by_event.setdefault(event, ([], []))[1].append(ms)
            for tollgate, witness in by_event.values():
                n = min(len(tollgate), len(witness))
                times["tollgate"] += tollgate[:n]
                times["witness (cat)"] += witness[:n]
        shutil.rmtree(keep, ignore_errors=True)
    print(f"Claude Code {version}, {args.runs} runs of the end-to-end suite, one test at a time\n")
    print("| hook | calls | p50 ms | p90 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for name, values in times.items():
        if not values:
            sys.exit(f"no {name} calls found in the debug logs")
        print(f"| {name} | {len(values)} | {statistics.median(values):.0f} | "
              f"{percentile(values, 90)} | {max(values)} |")


if __name__ == "__main__":
    main()
