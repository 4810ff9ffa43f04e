#!/usr/bin/env python3
"""Writes examples/demo/session.jsonl: a real-shaped Claude Code session for `tollgate demo`.

Each line is one step of the replay:
  {"transcript": <line>}                 append a line to the session transcript
  {"subagent": "<id>", "transcript": ...} append a line to a subagent transcript
  {"hook": <hook input>}                 one hook call (Claude Code's stdin JSON)
Placeholders {{PROJECT}}, {{TRANSCRIPT}} and {{SUBAGENTS}} are filled in by the demo.
The shapes follow Claude Code's transcripts (one line per content block, repeated usage) and
the official hook inputs. Deterministic: same output on every run.
"""
import json
import random
from datetime import datetime, timedelta, timezone

random.seed(7)
SESSION = "6f1c2d9e-5b7a-4c1e-9d3f-2a8b7c6d5e4f"
START = datetime(2026, 11, 12, 9, 4, 0, tzinfo=timezone.utc)
OPUS = "claude-opus-4-5-20251101"
HAIKU = "claude-haiku-4-5-20251001"
steps = []
clock = START
context = 18_000
sub_context = 9_000
parent = None
counter = 0


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def uid():
    return "%08x-%04x-%04x-%04x-%012x" % tuple(random.getrandbits(b) for b in (32, 16, 16, 16, 48))


def advance(seconds):
    global clock
    clock += timedelta(seconds=seconds)


def base(sidechain=False):
    global parent
    u = uid()
    line = {"parentUuid": parent, "isSidechain": sidechain, "userType": "external", "cwd": "{{PROJECT}}",
            "sessionId": SESSION, "version": "2.1.240", "gitBranch": "main", "uuid": u, "timestamp": ts(clock)}
    parent = u
    return line


def hook(event, **fields):
    steps.append({"hook": {"session_id": SESSION, "transcript_path": "{{TRANSCRIPT}}", "cwd": "{{PROJECT}}",
                           "hook_event_name": event, **fields}, "at": ts(clock)})


def user(text):
    line = base()
    line.update({"type": "user", "message": {"role": "user", "content": text}})
    steps.append({"transcript": line})


def assistant(blocks, grow, output, model=OPUS, sidechain=False, agent=None):
    """One API response written as one line per content block, all with the same usage."""
    global context, sub_context, counter
    counter += 1
    write = grow
    if sidechain:  # a subagent has its own, smaller context
        read = sub_context
        sub_context += grow
    else:
        read = context
        context += grow
    usage = {"input_tokens": random.randint(3, 40), "cache_creation_input_tokens": write,
             "cache_read_input_tokens": read,
             "cache_creation": {"ephemeral_5m_input_tokens": write, "ephemeral_1h_input_tokens": 0},
             "output_tokens": output, "service_tier": "standard"}
    mid, rid = f"msg_01demo{counter:012d}", f"req_011demo{counter:010d}"
    for block in blocks:
        line = base(sidechain)
        if agent:
            line["agentId"] = agent
        line.update({"type": "assistant", "requestId": rid,
                     "message": {"id": mid, "type": "message", "role": "assistant", "model": model,
                                 "content": [block], "stop_reason": None, "stop_sequence": None,
                                 "usage": usage}})
        steps.append({"subagent": agent, "transcript": line} if agent else {"transcript": line})


def tool_result(tool_id, text):
    line = base()
    line.update({"type": "user", "message": {"role": "user", "content": [
        {"tool_use_id": tool_id, "type": "tool_result", "content": text}]}, "toolUseResult": {"stdout": text[:200]}})
    steps.append({"transcript": line})


def tool_call(name, tool_input, response, grow, output=400, pre_only=False):
    """Assistant asks for a tool; PreToolUse; (result; PostToolUse)."""
    tid = f"toolu_01demo{counter + 1:010d}"
    assistant([{"type": "text", "text": f"Let me use {name}."},
               {"type": "tool_use", "id": tid, "name": name, "input": tool_input}], grow, output)
    advance(4)
    hook("PreToolUse", permission_mode="default", tool_name=name, tool_input=tool_input, tool_use_id=tid)
    if pre_only:
        return tid
    advance(3)
    text = response if isinstance(response, str) else json.dumps(response)
    tool_result(tid, text)
    hook("PostToolUse", permission_mode="default", tool_name=name, tool_input=tool_input,
         tool_response=response, tool_use_id=tid, duration_ms=random.randint(20, 3000))
    advance(20)
    return tid


hook("SessionStart", source="startup", model=OPUS)
advance(30)
prompt = "The config parser rejects nested tables. Find out why, fix it, and make the tests pass."
hook("UserPromptSubmit", permission_mode="default", prompt=prompt)
user(prompt)
advance(12)
assistant([{"type": "thinking", "thinking": "Start with the parser and its tests.", "signature": "x"},
           {"type": "text", "text": "I'll look at the parser first."}], 2_400, 900)
advance(6)
tool_call("Glob", {"pattern": "src/**/*.rs"}, {"filenames": ["src/config.rs", "src/lib.rs", "src/parser.rs"], "numFiles": 3}, 1_200)
src = "pub fn parse(input: &str) -> Result<Table, Error> {\n" + "    // ...\n" * 300 + "}\n"
tool_call("Read", {"file_path": "{{PROJECT}}/src/parser.rs"},
          {"type": "text", "file": {"filePath": "{{PROJECT}}/src/parser.rs", "content": src, "numLines": 302, "startLine": 1, "totalLines": 302}},
          9_000, 700)
tool_call("Grep", {"pattern": "fn parse", "output_mode": "content"},
          {"mode": "content", "content": "src/parser.rs:1:pub fn parse(\n" * 40, "numLines": 40}, 3_500, 500)
# A large file read without a range: context-guard stops it and says how to do it cheaply.
tool_call("Read", {"file_path": "{{PROJECT}}/data/dump.json"}, None, 600, 300, pre_only=True)
advance(15)
tool_call("Read", {"file_path": "{{PROJECT}}/data/dump.json", "offset": 1, "limit": 80},
          {"type": "text", "file": {"filePath": "{{PROJECT}}/data/dump.json", "content": "{\"k\": 1}\n" * 80, "numLines": 80, "startLine": 1, "totalLines": 120000}},
          2_100, 350)
# An Opus subagent for a search: model-router sends it to Haiku.
agent_input = {"description": "Find nested-table tests", "prompt": "List every test that covers nested tables in the config parser.",
               "subagent_type": "Explore", "model": "opus"}
tid = tool_call("Agent", agent_input, None, 1_100, 600, pre_only=True)
for i in range(4):
    advance(9)
    assistant([{"type": "text", "text": "Searching tests."}], 2_500 + 500 * i, 300, model=HAIKU, sidechain=True, agent="a7e2c41b")
advance(5)
tool_result(tid, "tests/nested.rs covers nested tables (3 tests).")
hook("PostToolUse", permission_mode="default", tool_name="Agent", tool_input={**agent_input, "model": "haiku"},
     tool_response={"status": "completed", "agentId": "a7e2c41b", "content": [{"type": "text", "text": "tests/nested.rs covers nested tables (3 tests)."}],
                    "resolvedModel": HAIKU, "totalTokens": 21000, "totalDurationMs": 36000, "totalToolUseCount": 5,
                    "usage": {"input_tokens": 9, "output_tokens": 300, "cache_creation_input_tokens": 4000, "cache_read_input_tokens": 12000}},
     tool_use_id=tid, duration_ms=36000)
hook("SubagentStop", permission_mode="default", stop_hook_active=False, agent_id="a7e2c41b", agent_type="Explore",
     agent_transcript_path="{{SUBAGENTS}}/agent-a7e2c41b.jsonl", last_assistant_message="tests/nested.rs covers nested tables (3 tests).")
advance(20)
# The long middle of the session: edits and test runs grow the context and the block's cost.
for i in range(9):
    tool_call("Edit", {"file_path": "{{PROJECT}}/src/parser.rs", "old_string": f"// step {i}", "new_string": f"// step {i} done"},
              {"filePath": "{{PROJECT}}/src/parser.rs", "structuredPatch": []}, 2_600 + 300 * i, 1_800)
    tool_call("Bash", {"command": "cargo test --quiet", "description": "Run the tests"},
              {"stdout": "running 42 tests\n" + "test parser::nested ... FAILED\n" * (6 - i % 3), "stderr": "", "interrupted": False},
              3_400 + 200 * i, 900)
    advance(40)
advance(30)
hook("Stop", permission_mode="default", stop_hook_active=False, last_assistant_message="Nested tables now parse; 42 tests pass.")
advance(60)
prompt2 = "Now refactor the whole config module for readability."
hook("UserPromptSubmit", permission_mode="default", prompt=prompt2)
advance(30)
hook("SessionEnd", reason="prompt_input_exit")
steps.append({"transcript": {"type": "summary", "summary": "Fix nested tables in the config parser", "leafUuid": parent}})

with open("examples/demo/session.jsonl", "w") as out:
    for step in steps:
        out.write(json.dumps(step, separators=(",", ":")) + "\n")
print(f"{len(steps)} steps, {sum(1 for s in steps if 'hook' in s)} hook calls, final context {context} tokens")
