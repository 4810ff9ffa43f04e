#!/usr/bin/env bash
# Baseline: the hook a user writes by hand with bash + jq, appending one JSON line per event.
# (What tollgate's recording is compared with in bench/hook-latency.py.)
jq -c '{ts: now, session: .session_id, event: .hook_event_name, tool: .tool_name,
        tool_use_id: .tool_use_id, input_bytes: (.tool_input | tostring | length)}' \
    >> "${HOOK_LOG:?set HOOK_LOG}"
