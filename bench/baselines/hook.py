#!/usr/bin/env python3
"""Baseline: the hook a user writes in Python, recording each event in SQLite.

(What tollgate's recording is compared with in bench/hook-latency.py.)
"""
import json
import os
import sqlite3
import sys
import time

event = json.load(sys.stdin)
db = sqlite3.connect(os.environ["HOOK_DB"], timeout=5)
db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE IF NOT EXISTS events (ts REAL, session TEXT, event TEXT, tool TEXT,"
           " tool_use_id TEXT, input_bytes INTEGER)")
with db:
    db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
               (time.time(), event.get("session_id"), event.get("hook_event_name"), event.get("tool_name"),
                event.get("tool_use_id"), len(json.dumps(event.get("tool_input")))))
db.close()
