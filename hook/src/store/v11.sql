-- tollgate store, schema version 11: each event's hook input as policies read it (redacted,
-- without the transcript path and the tool result, strings cut to 1 KiB), so that
-- `tollgate policy replay` can run a policy over the recorded events. NULL for the events
-- recorded before.
ALTER TABLE events ADD COLUMN input TEXT;
