-- tollgate store, schema version 2: what Claude Code reports to the status line, and whether
-- subagent downgrades took effect. Times are Unix milliseconds (UTC).

-- The latest status-line observation of each session (one UPSERT per status-line call).
CREATE TABLE session_status (
    session_id     TEXT PRIMARY KEY,
    observed_ms    INTEGER NOT NULL,
    model_id       TEXT,
    model_name     TEXT,
    context_tokens INTEGER,             -- context_window.total_input_tokens (or current_usage)
    context_window INTEGER,             -- context_window.context_window_size
    cost_usd       REAL                 -- cost.total_cost_usd (Claude Code's own estimate)
) WITHOUT ROWID;

-- The plan's real usage windows as last reported: account-wide, so one row per window whichever
-- session reported it.
CREATE TABLE rate_limits (
    name            TEXT PRIMARY KEY,  -- five_hour, seven_day
    used_percentage REAL    NOT NULL,
    resets_ms       INTEGER,
    observed_ms     INTEGER NOT NULL,
    session_id      TEXT
) WITHOUT ROWID;

-- Every change of a window's figures (not every report: a few rows per hour).
CREATE TABLE rate_limit_history (
    name            TEXT    NOT NULL,
    observed_ms     INTEGER NOT NULL,
    used_percentage REAL    NOT NULL,
    resets_ms       INTEGER
);
CREATE INDEX rate_limit_history_time ON rate_limit_history (name, observed_ms);

CREATE TRIGGER rate_limit_history_insert AFTER INSERT ON rate_limits BEGIN
    INSERT INTO rate_limit_history VALUES
        (NEW.name, NEW.observed_ms, NEW.used_percentage, NEW.resets_ms);
END;

CREATE TRIGGER rate_limit_history_update AFTER UPDATE ON rate_limits
WHEN NEW.used_percentage IS NOT OLD.used_percentage OR NEW.resets_ms IS NOT OLD.resets_ms BEGIN
    INSERT INTO rate_limit_history VALUES
        (NEW.name, NEW.observed_ms, NEW.used_percentage, NEW.resets_ms);
END;

-- Each subagent downgrade tollgate answered (PreToolUse), and what Claude Code did with it
-- (the matching PostToolUse's `tool_response.resolvedModel`, or the subagent's transcript).
CREATE TABLE downgrades (
    tool_use_id     TEXT PRIMARY KEY,
    event_id        INTEGER NOT NULL,   -- the PreToolUse row in `events`
    session_id      TEXT    NOT NULL,
    ts_ms           INTEGER NOT NULL,
    original_model  TEXT,               -- what the call asked for (or the session's model)
    requested_model TEXT    NOT NULL,   -- what tollgate asked for
    env_override    TEXT,               -- CLAUDE_CODE_SUBAGENT_MODEL in the hook's environment
    agent_id        TEXT,
    resolved_model  TEXT,               -- the model the subagent ran on
    applied         TEXT,               -- 'yes', 'no', 'unknown'; NULL until the PostToolUse
    why             TEXT,
    checked_ms      INTEGER
) WITHOUT ROWID;
CREATE INDEX downgrades_session ON downgrades (session_id, ts_ms);
