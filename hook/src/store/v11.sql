-- tollgate store, schema version 11: each event's hook input as policies read it (redacted,
-- without the transcript path and the tool result, strings cut to 1 KiB), so that
-- `tollgate policy replay` can run a policy over the recorded events. NULL for the events
-- recorded before.
ALTER TABLE events ADD COLUMN input TEXT;

-- The last response the store held when the hook decided (the largest `usage.id`): the
-- response that calls a tool is written to the transcript after its `PreToolUse`, so a replay
-- counts only the responses the hook had read. NULL for the events recorded before.
ALTER TABLE events ADD COLUMN usage_seen INTEGER;
