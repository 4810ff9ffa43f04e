#!/usr/bin/env python3
"""Measures the example policy in every SDK language: module size, cold compile, cached load,
and evaluation time.

usage: bench/policy-langs.py [--runs N] [--binary PATH] [--markdown]

Each example (examples/policies/<lang>) is built with its build.sh. Then, through the real
`tollgate` binary (policy check --json and policy test --json):

* cold compile: `policy check` with an empty cache (wasmtime compiles the module), median of N;
* cached load: `policy check` again (the precompiled module is read from the cache), median of N;
* evaluate: `policy test` on the 44 bundled conformance inputs, N times; the median of one
  evaluation (fresh instance, input written, output read and parsed; the module is loaded),
  and the fastest. Each evaluation runs on a new thread (the engine's watchdog): on a busy
  machine that thread waits for a core, which shows in the median and not in the minimum.

A hook call pays cached load + evaluate per policy. Run scripts/test first (it installs the
toolchains). The default binary is the dev build (its dependencies, wasmtime included, are
optimised: see Cargo.toml), so the figures are close to a release build's.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LANGS = ["rust", "c", "zig", "assemblyscript", "wasi-command", "wat"]

parser = argparse.ArgumentParser()
parser.add_argument("--runs", type=int, default=5)
parser.add_argument("--binary", default=str(ROOT / "target/debug/tollgate"))
parser.add_argument("--work", default=str(ROOT / "target/bench-langs"))
parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
args = parser.parse_args()

work = Path(args.work)
work.mkdir(parents=True, exist_ok=True)
env = dict(os.environ, CARGO_TARGET_DIR=str(ROOT / "target/conformance/cargo"))


def module(lang):
    if lang == "wat":
        return ROOT / "examples/policies/wat/minimal.wat"
    out = work / f"{lang}.wasm"
    subprocess.run(["bash", ROOT / f"examples/policies/{lang}/build.sh", out], check=True, env=env)
    return out


def tollgate(home, *command):
    result = subprocess.run(
        [args.binary, "policy", *command, "--json"],
        env=dict(os.environ, TOLLGATE_HOME=str(home)),
        capture_output=True,
        text=True,
    )
    try:
        # `policy test` exits 1 when an evaluation failed (e.g. ran past its time limit on a
        # busy machine): its rows still carry the times.
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        sys.exit(f"tollgate policy {' '.join(map(str, command))} failed:\n{result.stderr}")


rows = []
for lang in LANGS:
    path = module(lang)
    home = work / f"home-{lang}"
    cold, cached = [], []
    for _ in range(args.runs):
        shutil.rmtree(home, ignore_errors=True)
        first = tollgate(home, "check", path)
        assert not first["from_cache"]
        cold.append(first["load_ms"])
        second = tollgate(home, "check", path)
        assert second["from_cache"]
        cached.append(second["load_ms"])
    evaluations = [
        row["elapsed_us"] for _ in range(args.runs) for row in tollgate(home, "test", path)
    ]
    rows.append(
        (
            lang,
            path.stat().st_size,
            statistics.median(cold),
            statistics.median(cached),
            statistics.median(evaluations),
            min(evaluations),
        )
    )

header = (
    "language",
    "module bytes",
    "cold compile ms",
    "cached load ms",
    "evaluate µs (median)",
    "(min)",
)
if args.markdown:
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    for lang, size, cold, cached, evaluate, fastest in rows:
        print(f"| {lang} | {size:,} | {cold:.1f} | {cached:.2f} | {evaluate:.0f} | {fastest} |")
else:
    print(f"{header[0]:<16}{header[1]:>14}{header[2]:>18}{header[3]:>16}{header[4]:>22}{header[5]:>8}")
    for lang, size, cold, cached, evaluate, fastest in rows:
        print(f"{lang:<16}{size:>14,}{cold:>18.1f}{cached:>16.2f}{evaluate:>22.0f}{fastest:>8}")
