#!/usr/bin/env python3
"""Measures whole `tollgate hook` calls (process start to exit) on stores of several sizes.

usage: bench/hook-latency.py [--calls N] [--sizes 0,100000,1000000] [--binary PATH ...] [--gap SECONDS]

For each store size (events; usage rows = 30 % of that, spread over 60 days, rollups summed as
the hook keeps them) and each policy set (none, on a Bash call; the three built-ins, enforcing,
on a Bash call, where model-router's scope skips it, and on a Task call, where all three run;
both run natively, the default, and in the sandbox with `builtins = "wasm"`),
it runs N hook calls of a real-shaped PreToolUse input whose session transcript grows by one assistant
response before every call (so every call ingests a real delta), after 10 warm-up calls (the
first compiles the policies into the cache). Reports p50 / p99 / max wall time and the max RSS
of the hook process (measured apart, with GNU time: from Python a child's ru_maxrss includes
the interpreter it was forked from), hand-written hooks (bench/baselines/) on the same input and
growing transcript: bash + jq and Python + SQLite, each once recording the event only and once
the event and the transcript's new usage (the same recording as tollgate's), and the
process-spawn floor (`true`). All rows run interleaved, one call of each in turn, so that a
slow phase of a shared machine slows them alike and the ratios compare calls made together.

By default the calls follow each other at once. With --gap S every timed call waits S seconds
first, as tool calls in a real session are spaced: the machine idles in between (caches go
cold; a VM may hand its free memory back to the host), which a back-to-back run never sees.
A round then takes about (rows + 1) x S seconds: use it with few --calls and one --sizes.

With --binary given more than once, every tollgate row runs for each binary, interleaved with the
others, so that two builds are compared on calls made at the same times (`--baselines no` leaves
out the hand-written hooks).
"""
import argparse
import json
import os
import re
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
parser.add_argument("--binary", action="append", help="a tollgate binary; repeat to compare builds")
parser.add_argument("--baselines", choices=["yes", "no"], default="yes", help="run the hand-written hooks too")
parser.add_argument("--work", default=str(ROOT / "target/bench"))
parser.add_argument("--gap", type=float, default=0.0, help="seconds of idle before each timed call (>= 0)")
args = parser.parse_args()
if args.gap < 0:
    parser.error("--gap must be 0 or more seconds")
binaries = [Path(b) for b in (args.binary or [str(ROOT / "target/release/tollgate")])]
for binary in binaries:
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
# The built-ins run natively by default; `builtins = "wasm"` runs the same three in the sandbox.
SANDBOXED = 'builtins = "wasm"\n' + BUILTINS
POLICY_SETS = {"none": ("default_policies = false\n", BASH), "3 built-ins, Bash call": (BUILTINS, BASH),
               "3 built-ins, Task call": (BUILTINS, TASK),
               "3 built-ins in the sandbox, Bash call": (SANDBOXED, BASH),
               "3 built-ins in the sandbox, Task call": (SANDBOXED, TASK)}


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


def pause(i):
    """Idles before a timed call, with --gap."""
    if args.gap and i >= 10:
        time.sleep(args.gap)


def assistant_line(i, session, project):
    return json.dumps({"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": project,
                       "sessionId": session, "version": "2.1.240", "type": "assistant",
                       "requestId": f"req_live_{i:08d}", "uuid": f"u-{i}", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                       "message": {"id": f"msg_live_{i:08d}", "type": "message", "role": "assistant",
                                   "model": "claude-opus-4-5-20251101", "content": [{"type": "text", "text": "ok " * 40}],
                                   "usage": {"input_tokens": 12, "cache_creation_input_tokens": 900, "cache_read_input_tokens": 60000,
                                             "output_tokens": 300}}}, separators=(",", ":")) + "\n"


class Session:
    """One row's hook, with a session of 2,000 responses under `home` (read by the warm-up
    calls) whose transcript grows by one response before every call, as it does between tool
    calls."""

    def __init__(self, home, call, cmd, env):
        self.cmd, self.env, self.samples = cmd, env, []
        # The project lies outside tollgate's home: a command run inside that directory would
        # change tollgate's own files, and the guard denies it before any policy runs.
        self.project = home.parent / f"{home.name}-project"
        shutil.rmtree(self.project, ignore_errors=True)
        self.project.mkdir()
        self.transcript = home / "projects" / "bench-live.jsonl"
        self.transcript.parent.mkdir()
        with self.transcript.open("w") as t:
            for i in range(2000):
                t.write(assistant_line(i, "bench-live", str(self.project)))
        self.stdin = json.dumps({"session_id": "bench-live", "transcript_path": str(self.transcript),
                                 "cwd": str(self.project), "permission_mode": "default",
                                 "hook_event_name": "PreToolUse", **call, "tool_use_id": "toolu_bench"}).encode()

    def call(self, i, timed):
        with self.transcript.open("a") as t:
            t.write(assistant_line(100_000 + i, "bench-live", str(self.project)))
        sample = run(self.cmd, self.stdin, self.env)
        if timed:
            self.samples.append(sample)


if not Path("/usr/bin/time").exists():
    sys.exit("GNU time is needed for max RSS: apt-get install time")
env0 = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE", "TOLLGATE"))}
rows = []  # (label, store size or None, policies, Session)
for size in [int(s) for s in args.sizes.split(",")]:
    base = work / f"store-{size}"
    if not (base / "tollgate.db").exists():
        base.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(ROOT / "bench/gen-store.py"), str(binaries[0]), str(base / "tollgate.db"),
                        str(size), str(size * 3 // 10)], check=True)
    for label, (config, call) in POLICY_SETS.items():
        for n, binary in enumerate(binaries):
            name = "`tollgate hook`" if len(binaries) == 1 else f"`{binary}`"
            home = work / f"run-{size}-{re.sub(r'[^a-z0-9]+', '-', label.lower())}-{n}"
            shutil.rmtree(home, ignore_errors=True)
            home.mkdir(parents=True)
            shutil.copy(base / "tollgate.db", home / "tollgate.db")
            (home / "config.toml").write_text(config)
            rows.append((name, size, label,
                         Session(home, call, [str(binary), "hook"], dict(env0, TOLLGATE_HOME=str(home)))))
# Hand-written hooks on the same input and the same growing transcript: two that record the
# event only, two that also read the transcript's new usage, as `tollgate hook` does.
BASELINES = [("bash + jq, event only, append to a file", "hook-jq.sh"),
             ("bash + jq, event + transcript usage", "hook-jq-usage.sh"),
             ("Python + SQLite, event only", "hook.py"),
             ("Python + SQLite, event + transcript usage", "hook-usage.py")]
for label, script in BASELINES if args.baselines == "yes" else []:
    home = work / "baselines" / script
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    cmd = ["bash" if script.endswith(".sh") else sys.executable, str(ROOT / "bench/baselines" / script)]
    rows.append((label, None, "records, no policy",
                 Session(home, BASH, cmd, dict(env0, HOOK_LOG=str(home / "hook.log"), HOOK_DB=str(home / "hook.db")))))
floor = []

# Every row's calls interleaved (one call of each in turn), so that a slow phase of a shared
# machine slows every row alike and the ratios compare calls made at the same times.
for i in range(10 + args.calls):
    for _, _, _, session in rows:
        pause(i)
        session.call(i, timed=i >= 10)
    pause(i)
    sample = run(["true"], b"", env0)
    if i >= 10:
        floor.append(sample)
    if (i + 1) % (5 if args.gap else 50) == 0:
        print(f"  {i + 1} of {10 + args.calls} rounds", file=sys.stderr)
results = [(label, size, policies, summary(session.samples, max_rss_mib(session.cmd, session.stdin, session.env)))
           for label, size, policies, session in rows]
floor_summary = summary(floor, max_rss_mib(["true"], b"", env0))

spacing = f", each after {args.gap:g} s idle" if args.gap else ""
print(f"\nWhole hook calls, {args.calls} per row, interleaved{spacing} ({os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}):\n")
print("| hook | store | policies | p50 ms | p99 ms | max ms | max RSS MiB |")
print("|---|---:|---|---:|---:|---:|---:|")
for label, size, policies, s in results + [("process-spawn floor (`true`)", None, "", floor_summary)]:
    store = f"{size:,} events" if size is not None else ""
    print(f"| {label} | {store} | {policies} | {s['p50']:.2f} | {s['p99']:.2f} | {s['max']:.2f} | {s['rss_mib']:.1f} |")
largest = max(size for _, size, _, _ in results if size is not None)
print()
# Every tollgate row against every hand-written hook: "none" is the like-for-like comparison of
# recording alone (the hand-written hooks decide nothing), the built-in rows what tollgate costs
# as it runs by default.
for label, size, policies, t in results:
    if size == largest:
        for base, base_size, _, s in results:
            if base_size is None:
                print(f"{label} ({size:,} events, {policies}) vs {base}: {s['p50'] / t['p50']:.1f}x faster at p50")
