#!/usr/bin/env python3
"""Writes a corpus of Claude Code transcripts with real shapes, for the ccusage parity test and
the report benchmark.

usage: gen-transcripts.py OUT_DIR [--size-mb N] [--seed S] [--start YYYY-MM-DD] [--days D]

OUT_DIR gets `projects/<folder>/<session>.jsonl` and `<session>/subagents/agent-<id>.jsonl`,
as under ~/.claude (point CLAUDE_CONFIG_DIR at OUT_DIR), plus `differences.json` (below).
Deterministic for given arguments. What the corpus holds, as Claude Code writes it:

- sessions over several days at any hour (so local days differ by time zone), in 6 projects;
- main models opus-4-5/4-6/4-1, sonnet-4-5/4-6/4, haiku-4-5, a few opus-4-6 fast-mode responses;
- each API response on 1-3 lines (one per content block) with the same message id, request id
  and usage, sometimes a smaller output count on the first line (streaming);
- cache writes split into 5-minute and 1-hour parts (`usage.cache_creation`), or given as
  `cache_creation_input_tokens` alone (older versions), and growing cache reads;
- tool calls and results (Read, Bash, Grep, Glob, Edit, WebFetch, an MCP server) of realistic
  sizes, which make up most of the bytes; compaction when the context gets large;
- subagents (`Task`/`Agent`) with their own transcript (`isSidechain`, `agentId`, another model);
- duplicates: lines repeated in a file, and resumed sessions whose new file replays the first
  part of an older one (same message and request ids);
- `<synthetic>` responses with zero usage (ccusage counts them as block entries, tollgate does
  not store them: `differences.json` lists their times), and responses without a `requestId`;
- one spaced (`"usage": {`) line per 400 responses. ccusage only reads lines containing the exact
  bytes `"usage":{` and skips these; tollgate reads any valid JSON. They are listed in
  `differences.json` (time, model, tokens) so a comparison can account for them.

Sonnet 4 / 4.5 contexts stay under 200k tokens: above that both tools apply long-context prices,
but differently (ccusage per token kind on the excess, tollgate on the whole request as
Anthropic bills it).
"""
import argparse
import datetime as dt
import json
import os
import random
import uuid

MODELS = [  # (model id, weight, context window for the session)
    ("claude-opus-4-5-20251101", 30, 190_000),
    ("claude-sonnet-4-5-20250929", 22, 190_000),
    ("claude-opus-4-6", 12, 600_000),
    ("claude-sonnet-4-6", 10, 400_000),
    ("claude-haiku-4-5-20251001", 8, 190_000),
    ("claude-opus-4-1-20250805", 6, 190_000),
    ("claude-sonnet-4-20250514", 6, 190_000),
]
SUBAGENT_MODELS = ["claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101"]
PROJECTS = ["api-server", "web-ui", "infra", "docs.site", "ml-pipeline", "cli-tool"]
TOOLS = [  # (name, weight, typical result bytes)
    ("Read", 30, 9000),
    ("Bash", 25, 2500),
    ("Grep", 12, 3000),
    ("Glob", 6, 800),
    ("Edit", 15, 600),
    ("WebFetch", 3, 12000),
    ("mcp__github__get_issue", 3, 4000),
    ("mcp__github__list_pull_requests", 2, 7000),
]
WORDS = ("fn let mut self impl return match Some None Ok Err struct pub use crate async await "
         "the a to of and in is it for on with as this that be are or from config error value "
         "test assert path file line token cache window store query index result").split()


class Corpus:
    def __init__(self, out, seed):
        self.out = out
        self.rng = random.Random(seed)
        self.bytes = 0
        self.responses = 0
        self.differences = []
        self.synthetic = []
        self.text = " ".join(self.rng.choice(WORDS) for _ in range(400_000))
        self.history = []  # (project folder, first lines) of finished sessions, for resumes

    def filler(self, size):
        start = self.rng.randrange(0, len(self.text) - size - 1) if size < len(self.text) - 1 else 0
        return self.text[start:start + size]

    def uid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128)))

    def hexid(self, n):
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def write(self, handle, obj, spaced=False):
        if spaced:
            line = json.dumps(obj)  # ", " and ": " separators: "usage": {
        else:
            line = json.dumps(obj, separators=(",", ":"))
        handle.write(line + "\n")
        self.bytes += len(line) + 1
        return line


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def weighted(rng, items):
    total = sum(i[1] for i in items)
    r = rng.uniform(0, total)
    for item in items:
        r -= item[1]
        if r <= 0:
            return item
    return items[-1]


class Session:
    """One conversation, written line by line."""

    def __init__(self, corpus, handle, sid, cwd, model, window, t, agent=None):
        self.c, self.h, self.sid, self.cwd = corpus, handle, sid, cwd
        self.model, self.window, self.t, self.agent = model, window, t, agent
        self.context = corpus.rng.randint(12_000, 24_000) if agent is None else corpus.rng.randint(3_000, 9_000)
        self.parent = None
        self.one_hour = corpus.rng.random() < 0.5
        self.lines = []

    def base(self, kind):
        line = {"parentUuid": self.parent, "isSidechain": self.agent is not None, "userType": "external",
                "cwd": self.cwd, "sessionId": self.sid, "version": "2.1.90", "gitBranch": "main"}
        if self.agent:
            line["agentId"] = self.agent
        line["type"] = kind
        line["uuid"] = self.c.uid()
        line["timestamp"] = stamp(self.t)
        self.parent = line["uuid"]
        return line

    def emit(self, line, spaced=False):
        self.lines.append(self.c.write(self.h, line, spaced))

    def tick(self, lo, hi):
        self.t += dt.timedelta(milliseconds=self.c.rng.randint(lo, hi))

    def user(self, content, extra=None):
        line = self.base("user")
        line["message"] = {"role": "user", "content": content}
        if extra:
            line.update(extra)
        self.emit(line)

    def usage(self, added, output):
        rng = self.c.rng
        read = self.context
        write = added
        usage = {"input_tokens": rng.randint(1, 40), "cache_creation_input_tokens": write,
                 "cache_read_input_tokens": read, "output_tokens": output, "service_tier": "standard"}
        if rng.random() < 0.85:  # newer versions split the cache write by lifetime
            one_h = write if self.one_hour else (write // 3 if rng.random() < 0.2 else 0)
            usage["cache_creation"] = {"ephemeral_5m_input_tokens": write - one_h, "ephemeral_1h_input_tokens": one_h}
        if self.model == "claude-opus-4-6" and rng.random() < 0.05:
            usage["speed"] = "fast"
        self.context = read + write + usage["input_tokens"]
        return usage

    def assistant(self, added, tool_calls):
        """One API response: a text line and one line per tool call, same id and usage."""
        rng, c = self.c.rng, self.c
        self.tick(2_000, 40_000)
        output = rng.randint(40, 2_500)
        usage = self.usage(added, output)
        mid, rid = "msg_01" + c.hexid(22), "req_011c" + c.hexid(20)
        blocks = [{"type": "text", "text": c.filler(rng.randint(40, 600))}]
        blocks += [{"type": "tool_use", "id": tid, "name": name, "input": tool_input} for tid, name, tool_input in tool_calls]
        c.responses += 1
        spaced = c.responses % 400 == 0
        no_request = rng.random() < 0.01
        for n, block in enumerate(blocks):
            line = self.base("assistant")
            u = dict(usage)
            if n == 0 and len(blocks) > 1 and rng.random() < 0.2:
                u["output_tokens"] = max(1, output // 4)  # streamed: the first line has a partial count
            line["message"] = {"id": mid, "type": "message", "role": "assistant", "model": self.model,
                               "content": [block], "stop_reason": None, "stop_sequence": None, "usage": u}
            if not no_request:
                line["requestId"] = rid
            self.emit(line, spaced)
            if rng.random() < 0.01:
                self.emit(line, spaced)  # the same line twice
        if spaced:
            c.differences.append({"timestamp": stamp(self.t), "model": self.model, "messageId": mid,
                                  "usage": usage, "sidechain": self.agent is not None})
        return output

    def synthetic(self):
        line = self.base("assistant")
        line["message"] = {"id": "msg_" + self.c.hexid(24), "type": "message", "role": "assistant",
                           "model": "<synthetic>", "content": [{"type": "text", "text": "No response requested."}],
                           "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0,
                                     "cache_read_input_tokens": 0}}
        self.emit(line)
        self.c.synthetic.append(line["timestamp"])

    def tool_input(self, name):
        rng, c = self.c.rng, self.c
        path = f"{self.cwd}/src/{c.filler(12).strip().replace(' ', '_') or 'lib'}.rs"
        return {
            "Read": {"file_path": path},
            "Bash": {"command": rng.choice(["cargo test", "git status", "ls -la", "npm run build", "pytest -q"]), "description": "run"},
            "Grep": {"pattern": rng.choice(["fn main", "TODO", "unwrap\\(", "config"]), "path": self.cwd},
            "Glob": {"pattern": "**/*.rs"},
            "Edit": {"file_path": path, "old_string": c.filler(80), "new_string": c.filler(90)},
            "WebFetch": {"url": "https://docs.example.com/page", "prompt": "summarise"},
        }.get(name, {"owner": "acme", "repo": "api", "number": rng.randint(1, 900)})

    def turn(self, prompt_size, steps, subagent_hook=None):
        rng, c = self.c.rng, self.c
        self.tick(10_000, 600_000)
        self.user(c.filler(prompt_size))
        added = prompt_size // 4 + rng.randint(200, 2_000)
        for step in range(steps):
            calls = []
            if step < steps - 1:
                for _ in range(1 if rng.random() < 0.8 else rng.randint(2, 3)):
                    name, _, size = weighted(rng, TOOLS)
                    calls.append(("toolu_01" + c.hexid(22), name, self.tool_input(name), size))
                if subagent_hook and rng.random() < 0.15:
                    calls.append(("toolu_01" + c.hexid(22), "Task", {"description": "explore", "prompt": "find it", "subagent_type": "Explore"}, 0))
            output = self.assistant(added, [(t, n, i) for t, n, i, _ in calls])
            added = output
            for tid, name, _, size in calls:
                self.tick(300, 20_000)
                if name == "Task":
                    text = subagent_hook(self)
                else:
                    text = c.filler(max(20, int(rng.lognormvariate(0, 0.9) * size)))
                self.user([{"tool_use_id": tid, "type": "tool_result", "content": text}],
                          {"toolUseResult": {"stdout": text[:200]}})
                added += len(text) // 4 + 30
            if self.context + added > self.window:
                self.compact()
                added = rng.randint(2_000, 6_000)
        if rng.random() < 0.05:
            self.synthetic()

    def compact(self):
        self.tick(1_000, 5_000)
        self.user("This session is being continued from a previous conversation. Summary: " + self.c.filler(3_000),
                  {"isCompactSummary": True})
        self.context = self.c.rng.randint(15_000, 30_000)


def generate(args):
    corpus = Corpus(args.out, args.seed)
    rng = corpus.rng
    start = dt.datetime.strptime(args.start, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
    target = args.size_mb * 1_000_000
    n = 0
    while corpus.bytes < target:
        n += 1
        project = rng.choice(PROJECTS)
        cwd = f"/home/dev/{project}"
        folder = cwd.replace("/", "-").replace(".", "-")
        sid = corpus.uid()
        os.makedirs(os.path.join(args.out, "projects", folder), exist_ok=True)
        path = os.path.join(args.out, "projects", folder, sid + ".jsonl")
        t = start + dt.timedelta(seconds=rng.uniform(0, args.days * 86_400))
        model, _, window = weighted(rng, MODELS)
        with open(path, "w") as handle:
            session = Session(corpus, handle, sid, cwd, model, window, t)
            # A resumed session: the new file starts with the older one's lines, ids unchanged.
            resumed = [h for h in corpus.history if h[0] == folder]
            if resumed and rng.random() < 0.15:
                for line in rng.choice(resumed)[1]:
                    handle.write(line + "\n")
                    corpus.bytes += len(line) + 1

            def subagent(parent):
                agent = corpus.hexid(8)
                sub_dir = os.path.join(args.out, "projects", folder, sid, "subagents")
                os.makedirs(sub_dir, exist_ok=True)
                with open(os.path.join(sub_dir, f"agent-{agent}.jsonl"), "w") as sub_handle:
                    child = Session(corpus, sub_handle, sid, cwd, rng.choice(SUBAGENT_MODELS), 190_000, parent.t, agent)
                    child.parent = parent.parent
                    for _ in range(rng.randint(1, 3)):
                        child.turn(rng.randint(200, 1_500), rng.randint(2, 6))
                    parent.t = max(parent.t, child.t)
                return corpus.filler(rng.randint(600, 8_000))

            for _ in range(rng.randint(2, 10)):
                session.turn(rng.randint(20, 2_000), rng.randint(1, 6), subagent)
                if rng.random() < 0.1:  # a break of several hours inside one session
                    session.tick(3_600_000, 8 * 3_600_000)
            corpus.history.append((folder, session.lines[: rng.randint(4, 30)]))
            corpus.history = corpus.history[-50:]
    with open(os.path.join(args.out, "differences.json"), "w") as handle:
        json.dump({"spacedLines": corpus.differences, "syntheticResponses": corpus.synthetic}, handle, indent=1)
    return n, corpus


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--size-mb", type=float, default=5.0, help="approximate corpus size in MB")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", default="2026-10-20", help="first day (UTC)")
    parser.add_argument("--days", type=float, default=10.0, help="days the sessions start in")
    args = parser.parse_args()
    sessions, corpus = generate(args)
    print(f"wrote {sessions} sessions, {corpus.responses} API responses, {corpus.bytes / 1e6:.1f} MB to {args.out}")


if __name__ == "__main__":
    main()
