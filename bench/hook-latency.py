#!/usr/bin/env python3
"""Measures whole `tollgate hook` calls (process start to exit) on stores of several sizes.

usage: bench/hook-latency.py [--calls N] [--sizes 0,100000,1000000] [--binary PATH]

For each store size (events; usage rows = 30 % of that, spread over 60 days, rollups summed as
the hook keeps them) and each policy set (none, on a Bash call; the three built-ins, enforcing,
on a Bash call, where model-router's scope skips it, and on a Task call, where all three run),
it runs N hook calls of a real-shaped PreToolUse input whose session transcript grows by one assistant
response before every call (so every call ingests a real delta), after 10 warm-up calls (the
first compiles the policies into the cache). Reports p50 / p99 / max wall time and the max RSS
of the hook process (measured apart, with GNU time: from Python a child's ru_maxrss includes
the interpreter it was forked from), the same recording done by a hand-written bash + jq hook
and a Python + SQLite hook (bench/baselines/), and the process-spawn floor (`true`).
"""
import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
parser = argparse.ArgumentParser()
parser.add_argument("--calls", type=int, default=300)
parser.add_argument("--sizes", default="0,100000,1000000")
parser.add_argument("--binary", default=str(ROOT / "target/release/tollgate"))
parser.add_argument("--work", default=str(ROOT / "target/bench"))
args = parser.parse_args()
binary = Path(args.binary)
if not binary.exists():
    sys.exit(f"{binary} not found: cargo build --release -p tollgate")
work = Path(args.work)
work.mkdir(parents=True, exist_ok=True)

BUILTINS = """
[[policy]]
name = "budget"
[policy.config]
block_usd = 1000000.0
week_usd = 1000000.0
[[policy]]
name = "context-guard"
[[policy]]
name = "model-router"
[policy.config]
rules = [{ subagent_type = "Explore", model = "haiku" }]
"""
BASH = {"tool_name": "Bash", "tool_input": {"command": "cargo test", "description": "Run tests"}}
TASK = {"tool_name": "Task", "tool_input": {"subagent_type": "general-purpose", "description": "Find the parser",
                                            "prompt": "Where is the config file parsed?"}}
# model-router acts only on subagent calls (its default scope), so a Bash call runs two policies
# and a Task call all three.
POLICY_SETS = {"none": ("default_policies = false\n", BASH), "3 built-ins, Bash call": (BUILTINS, BASH),
               "3 built-ins, Task call": (BUILTINS, TASK)}


def run(cmd, stdin, env):
    """One process: wall time (ms), from spawn to exit (outputs are read after; they are small)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdin.write(stdin)
    proc.stdin.close()
    _, status = os.waitpid(proc.pid, 0)
    elapsed = (time.perf_counter() - started) * 1000
    err = proc.stderr.read()
    proc.stdout.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or err:
        sys.exit(f"{cmd} failed: {err.decode()}")
    return elapsed


def max_rss_mib(cmd, stdin, env, runs=10):
    """The largest max RSS of `runs` processes, measured by GNU time."""
    worst = 0
    for _ in range(runs):
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], input=stdin, capture_output=True, env=env)
        worst = max(worst, int(proc.stderr.decode().strip().splitlines()[-1]))
    return worst / 1024


def summary(times, rss):
    times = sorted(times)
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    return {"p50": statistics.median(times), "p99": pick(0.99), "max": times[-1], "rss_mib": rss}


def assistant_line(i, session, project):
    return json.dumps({"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": project,
                       "sessionId": session, "version": "2.1.240", "type": "assistant",
                       "requestId": f"req_live_{i:08d}", "uuid": f"u-{i}", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                       "message": {"id": f"msg_live_{i:08d}", "type": "message", "role": "assistant",
                                   "model": "claude-opus-4-5-20251101", "content": [{"type": "text", "text": "ok " * 40}],
                                   "usage": {"input_tokens": 12, "cache_creation_input_tokens": 900, "cache_read_input_tokens": 60000,
                                             "output_tokens": 300}}}, separators=(",", ":")) + "\n"


if not Path("/usr/bin/time").exists():
    sys.exit("GNU time is needed for max RSS: apt-get install time")
rows = []
env0 = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE", "TOLLGATE"))}
floor = summary([run(["true"], b"", env0) for _ in range(args.calls)], max_rss_mib(["true"], b"", env0))
for size in [int(s) for s in args.sizes.split(",")]:
    base = work / f"store-{size}"
    if not (base / "tollgate.db").exists():
        base.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(ROOT / "bench/gen-store.py"), str(binary), str(base / "tollgate.db"),
                        str(size), str(size * 3 // 10)], check=True)
    for label, (config, call) in POLICY_SETS.items():
        home = work / f"run-{size}-{re.sub(r'[^a-z0-9]+', '-', label.lower())}"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        shutil.copy(base / "tollgate.db", home / "tollgate.db")
        (home / "config.toml").write_text(config)
        project = home / "project"
        project.mkdir()
        transcript = home / "projects" / "bench-live.jsonl"
        transcript.parent.mkdir()
        with transcript.open("w") as t:
            for i in range(2000):  # an existing session, ingested by the warm-up calls
                t.write(assistant_line(i, "bench-live", str(project)))
        stdin = json.dumps({"session_id": "bench-live", "transcript_path": str(transcript), "cwd": str(project),
                            "permission_mode": "default", "hook_event_name": "PreToolUse", **call,
                            "tool_use_id": "toolu_bench"}).encode()
        env = dict(env0, TOLLGATE_HOME=str(home))
        samples = []
        for i in range(10 + args.calls):
            with transcript.open("a") as t:
                t.write(assistant_line(100_000 + i, "bench-live", str(project)))
            sample = run([str(binary), "hook"], stdin, env)
            if i >= 10:
                samples.append(sample)
        rows.append((size, label, summary(samples, max_rss_mib([str(binary), "hook"], stdin, env))))
        print(f"  {size:>9} events, {label:<22}: {rows[-1][2]['p50']:.2f} ms p50", file=sys.stderr)

# The same recording by hand-written hooks, on the same input.
baselines = []
base_dir = work / "baselines"
shutil.rmtree(base_dir, ignore_errors=True)
base_dir.mkdir()
bench_input = json.dumps({"session_id": "bench-live", "hook_event_name": "PreToolUse", "tool_name": "Bash",
                          "tool_input": {"command": "cargo test"}, "tool_use_id": "toolu_bench"}).encode()
base_env = dict(env0, HOOK_LOG=str(base_dir / "hook.log"), HOOK_DB=str(base_dir / "hook.db"))
for label, cmd in [("bash + jq, append to a file", ["bash", str(ROOT / "bench/baselines/hook-jq.sh")]),
                   ("Python + SQLite", [sys.executable, str(ROOT / "bench/baselines/hook.py")])]:
    times = [run(cmd, bench_input, base_env) for _ in range(args.calls)]
    baselines.append((label, summary(times, max_rss_mib(cmd, bench_input, base_env))))

print(f"\nWhole hook calls, {args.calls} per row ({os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}):\n")
print("| hook | store | policies | p50 ms | p99 ms | max ms | max RSS MiB |")
print("|---|---:|---|---:|---:|---:|---:|")
for size, label, s in rows:
    print(f"| `tollgate hook` | {size:,} events | {label} | {s['p50']:.2f} | {s['p99']:.2f} | {s['max']:.2f} | {s['rss_mib']:.1f} |")
for label, s in baselines:
    print(f"| {label} (records only) | | | {s['p50']:.2f} | {s['p99']:.2f} | {s['max']:.2f} | {s['rss_mib']:.1f} |")
print(f"| process-spawn floor (`true`) | | | {floor['p50']:.2f} | {floor['p99']:.2f} | {floor['max']:.2f} | {floor['rss_mib']:.1f} |")
largest = max(r[0] for r in rows)
print()
for size, label, t in rows:
    if size == largest and label != "none":
        for base, s in baselines:
            print(f"tollgate ({size:,} events, {label}) vs {base}: {s['p50'] / t['p50']:.1f}x faster at p50")
