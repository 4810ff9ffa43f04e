-- tollgate team database (PostgreSQL), schema version 1. Applied by `tollgate team migrate`
-- (and by every `tollgate sync`). Times are Unix milliseconds (UTC).
-- Nothing here holds a prompt, a tool input or output, or a subject: only totals, tool names
-- (when shared), decisions and project directory names.

-- One row per API response, whichever machine pushed it: the key is Claude's own
-- (message id, request id), so a retried or repeated push never counts it twice.
CREATE TABLE tollgate_usage (
    message_id         TEXT             NOT NULL,
    request_id         TEXT             NOT NULL,
    machine            TEXT             NOT NULL,
    person             TEXT             NOT NULL,
    team               TEXT             NOT NULL,
    project            TEXT             NOT NULL,  -- the directory's last component
    session_id         TEXT             NOT NULL,
    model              TEXT             NOT NULL,
    ts_ms              BIGINT           NOT NULL,
    input_tokens       BIGINT           NOT NULL,
    output_tokens      BIGINT           NOT NULL,
    cache_write_tokens BIGINT           NOT NULL,
    cache_read_tokens  BIGINT           NOT NULL,
    cost_usd           DOUBLE PRECISION,           -- NULL: no price known for the model
    PRIMARY KEY (message_id, request_id)
);
CREATE INDEX tollgate_usage_team_ts ON tollgate_usage (team, ts_ms);

-- One row per hook call: keyed by the machine and its local row id.
CREATE TABLE tollgate_events (
    machine    TEXT   NOT NULL,
    local_id   BIGINT NOT NULL,
    person     TEXT   NOT NULL,
    team       TEXT   NOT NULL,
    project    TEXT   NOT NULL,
    session_id TEXT   NOT NULL,
    ts_ms      BIGINT NOT NULL,
    event      TEXT   NOT NULL,
    tool_name  TEXT,              -- NULL unless `share` includes "tool_names"
    decision   TEXT,
    latency_us BIGINT,
    PRIMARY KEY (machine, local_id)
);
CREATE INDEX tollgate_events_team_ts ON tollgate_events (team, ts_ms);

-- Each subagent downgrade and whether Claude Code applied it; pushed again when checked.
CREATE TABLE tollgate_downgrades (
    machine         TEXT   NOT NULL,
    tool_use_id     TEXT   NOT NULL,
    person          TEXT   NOT NULL,
    team            TEXT   NOT NULL,
    project         TEXT   NOT NULL,
    session_id      TEXT   NOT NULL,
    ts_ms           BIGINT NOT NULL,
    requested_model TEXT   NOT NULL,
    applied         TEXT,            -- 'yes', 'no', 'unknown'; NULL until checked
    PRIMARY KEY (machine, tool_use_id)
);
CREATE INDEX tollgate_downgrades_team_ts ON tollgate_downgrades (team, ts_ms);
