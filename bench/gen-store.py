#!/usr/bin/env python3
"""Fills a tollgate store with N events and M usage rows spread over the last 60 days.

usage: gen-store.py TOLLGATE_BINARY STORE_FILE EVENTS USAGE_ROWS

The schema comes from the binary itself (`tollgate log --store FILE` creates and migrates it);
rows go into the same tables as real ones, and the rollups are then summed from them as the
hook keeps them (store.rs: `roll_usage`, `roll_event`).
Deterministic for given arguments (the time base is "now" rounded to the hour).
"""
import random
import sqlite3
import subprocess
import sys
import time

binary, path, n_events, n_usage = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
subprocess.run([binary, "log", "--store", path, "-n", "0"], check=True, capture_output=True)
random.seed(42)
now_ms = int(time.time() // 3600 * 3600 * 1000)
span_ms = 60 * 24 * 3600 * 1000
models = ["claude-opus-4-5-20251101"] * 5 + ["claude-sonnet-4-5-20250929"] * 3 + ["claude-haiku-4-5-20251001"] * 2
events = ["PreToolUse"] * 40 + ["PostToolUse"] * 40 + ["UserPromptSubmit"] * 6 + ["Stop"] * 6 + ["Notification"] * 4 + ["SubagentStop"] * 4
tools = ["Read", "Bash", "Edit", "Grep", "Glob", "Agent", "Write", "mcp__github__get_issue"]


def session_at(ts):
    # About 12 sessions a day, 4 projects.
    n = ts // (2 * 3600 * 1000)
    return f"bench-session-{n:06d}", f"/home/dev/project-{n % 4}"


conn = sqlite3.connect(path)
conn.execute("PRAGMA synchronous = OFF")
with conn:
    rows = []
    for i in range(n_usage):
        ts = now_ms - span_ms + i * span_ms // max(n_usage, 1)
        session, project = session_at(ts)
        inp, out = random.randint(1, 50), random.randint(50, 3000)
        w5, rd = random.randint(0, 8000), random.randint(10000, 150000)
        rows.append((f"msg_bench_{i:09d}", f"req_bench_{i:09d}", ts, session, project, random.choice(models),
                     int(random.random() < 0.15), None, inp, out, w5, 0, rd, (inp * 5 + out * 25 + w5 * 6.25 + rd * 0.5) / 1e6))
    conn.executemany("INSERT INTO usage (message_id, request_id, ts_ms, session_id, project, model, sidechain, agent_id,"
                     " input_tokens, output_tokens, cache_write_5m, cache_write_1h, cache_read_tokens, cost_usd)"
                     " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    del rows

    def event_rows():
        for i in range(n_events):
            ts = now_ms - span_ms + i * span_ms // max(n_events, 1)
            session, project = session_at(ts)
            event = random.choice(events)
            tool = random.choice(tools) if event.endswith("ToolUse") else None
            yield (ts, session, project, event, tool, f"toolu_bench_{i}" if tool else None, None,
                   "src/main.rs" if tool else None, 120, 2400 if event == "PostToolUse" else 0,
                   600 if event == "PostToolUse" else 0, "allow", None, None, 1500, None)
    conn.executemany("INSERT INTO events (ts_ms, session_id, project, event, tool_name, tool_use_id, agent_id, subject,"
                     " input_bytes, response_bytes, est_tokens, decision, reason, model_requested, latency_us, note)"
                     " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", event_rows())
    # Older schemas (a binary to compare with) have no unpriced_tokens (v7) or usage_sessions
    # (v10): the store is filled as the binary's own schema has it.
    unpriced_tokens = any(c[1] == "unpriced_tokens" for c in conn.execute("PRAGMA table_info(usage_rollup)"))
    unpriced_sum = (""",
               sum(CASE WHEN cost_usd IS NULL THEN input_tokens + output_tokens + cache_write_5m
                            + cache_write_1h + cache_read_tokens ELSE 0 END)""" if unpriced_tokens else "")
    conn.executescript(f"""
        INSERT INTO usage_rollup
        SELECT ts_ms / 900000, session_id, project, model, count(*), sum(input_tokens),
               sum(output_tokens), sum(cache_write_5m), sum(cache_write_1h), sum(cache_read_tokens),
               sum(coalesce(cost_usd, 0)), sum(cost_usd IS NULL), min(ts_ms), max(ts_ms){unpriced_sum}
        FROM usage GROUP BY 1, 2, 3, 4;
        INSERT INTO event_rollup
        SELECT ts_ms / 900000, session_id, project, sum(event = 'PreToolUse'),
               sum(event = 'UserPromptSubmit')
        FROM events WHERE event IN ('PreToolUse', 'UserPromptSubmit') GROUP BY 1, 2, 3;
    """)
    if conn.execute("SELECT 1 FROM sqlite_schema WHERE name = 'usage_sessions'").fetchone():
        conn.execute("""
            INSERT INTO usage_sessions
            SELECT session_id, project, model, sum(messages), sum(input_tokens), sum(output_tokens),
                   sum(cache_write_5m), sum(cache_write_1h), sum(cache_read_tokens), sum(cost_usd),
                   sum(unpriced), sum(unpriced_tokens), min(first_ts), max(last_ts)
            FROM usage_rollup GROUP BY 1, 2, 3""")
    # Hours from the 15-minute buckets, and (schema v6 on) UTC days from the hours.
    periods = [("hourly", "bucket / 4", "rollup")]
    if conn.execute("SELECT 1 FROM sqlite_schema WHERE name = 'usage_daily'").fetchone():
        periods.append(("daily", "hour / 24", "hourly"))
    for period, of, finer in periods:
        conn.executescript(f"""
            INSERT INTO usage_{period}
            SELECT {of}, model, project, sum(messages), sum(input_tokens), sum(output_tokens),
                   sum(cache_write_5m), sum(cache_write_1h), sum(cache_read_tokens), sum(cost_usd),
                   sum(unpriced){", sum(unpriced_tokens)" if unpriced_tokens else ""}
            FROM usage_{finer} GROUP BY 1, 2, 3;
            INSERT INTO event_{period}
            SELECT {of}, project, sum(tool_calls), sum(prompts) FROM event_{finer} GROUP BY 1, 2;
        """)
conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
conn.close()
print(f"{path}: {n_events} events, {n_usage} usage rows")
