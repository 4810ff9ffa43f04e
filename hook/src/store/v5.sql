-- tollgate store, schema version 5: the rollups are kept by tollgate's own writes (store.rs:
-- `roll_event`, `roll_usage`; observe.rs for the plan-window history) instead of triggers.
-- SQLite parses every trigger of the schema on every open, whether it fires or not, and each
-- hook call is a new process: the eleven triggers were about half of that parse (~0.12 ms of
-- every call). The tables and their contents do not change.
DROP TRIGGER usage_rollup_insert;
DROP TRIGGER usage_rollup_update;
DROP TRIGGER usage_rollup_delete;
DROP TRIGGER event_rollup_insert;
DROP TRIGGER rate_limit_history_insert;
DROP TRIGGER rate_limit_history_update;
DROP TRIGGER usage_hourly_insert;
DROP TRIGGER usage_hourly_update;
DROP TRIGGER event_hourly_insert;
DROP TRIGGER event_hourly_update;
DROP TRIGGER block_anchor_reset;
