#!/usr/bin/env python3
"""Baseline: the same recording as `tollgate hook`, by hand in Python with SQLite.

It records the event (as hook.py does), then the token usage of every assistant response the
session transcript gained since the last call, from a byte offset kept in the database, up to
the last complete line. (What tollgate's recording is compared with in bench/hook-latency.py.)
Unlike tollgate it does not de-duplicate responses written twice, notice a rotated transcript,
price anything or keep rollups.
"""
import json
import os
import sqlite3
import sys
import time

event = json.load(sys.stdin)
db = sqlite3.connect(os.environ["HOOK_DB"], timeout=5)
db.execute("PRAGMA journal_mode=WAL")
db.executescript(
    "CREATE TABLE IF NOT EXISTS events (ts REAL, session TEXT, event TEXT, tool TEXT, tool_use_id TEXT,"
    " input_bytes INTEGER);"
    "CREATE TABLE IF NOT EXISTS usage (ts TEXT, session TEXT, request TEXT, id TEXT, model TEXT,"
    " input_tokens INTEGER, output_tokens INTEGER, cache_write_tokens INTEGER, cache_read_tokens INTEGER);"
    "CREATE TABLE IF NOT EXISTS offsets (path TEXT PRIMARY KEY, offset INTEGER)")
with db:
    db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
               (time.time(), event.get("session_id"), event.get("hook_event_name"), event.get("tool_name"),
                event.get("tool_use_id"), len(json.dumps(event.get("tool_input")))))
    path = event.get("transcript_path")
    if path and os.path.isfile(path):
        row = db.execute("SELECT offset FROM offsets WHERE path = ?", (path,)).fetchone()
        offset = row[0] if row else 0
        with open(path, "rb") as transcript:
            transcript.seek(offset)
            data = transcript.read()
        end = data.rfind(b"\n") + 1
        for line in data[:end].splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            message = record.get("message") if isinstance(record, dict) else None
            usage = message.get("usage") if isinstance(message, dict) else None
            if record.get("type") == "assistant" and isinstance(usage, dict):
                db.execute("INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (record.get("timestamp"), record.get("sessionId"), record.get("requestId"),
                            message.get("id"), message.get("model"), usage.get("input_tokens", 0),
                            usage.get("output_tokens", 0), usage.get("cache_creation_input_tokens", 0),
                            usage.get("cache_read_input_tokens", 0)))
        db.execute("INSERT OR REPLACE INTO offsets VALUES (?, ?)", (path, offset + end))
db.close()
