-- tollgate store, schema version 7: Claude Code's own figures (its `cost-state` transcript
-- lines), the tokens whose cost is unknown in each rollup, compactions, the plan limits hit,
-- the context window Claude Code reports per model, and the model each event concerns.
-- Times are Unix milliseconds (UTC).

-- Claude Code's cost and tokens per session and model, from the latest valid `cost-state`
-- line (cumulative over the session; a lower figure never replaces a higher one).
CREATE TABLE claude_code_costs (
    session_id          TEXT    NOT NULL,
    model               TEXT    NOT NULL,   -- as Claude Code names it
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cache_write_5m      INTEGER NOT NULL,
    cache_write_1h      INTEGER NOT NULL,
    cache_read_tokens   INTEGER NOT NULL,
    web_search_requests INTEGER NOT NULL,
    cost_usd            REAL    NOT NULL,
    unknown_price       INTEGER NOT NULL,   -- hasUnknownModelCost: Claude Code assumed a price
    observed_ms         INTEGER NOT NULL,
    PRIMARY KEY (session_id, model)
) WITHOUT ROWID;

-- What was wrong with a session's `cost-state` lines, each kind noted once.
CREATE TABLE cost_state_notes (
    session_id  TEXT    NOT NULL,
    kind        TEXT    NOT NULL,   -- 'invalid', 'decreased', 'disagrees'
    note        TEXT    NOT NULL,
    observed_ms INTEGER NOT NULL,
    PRIMARY KEY (session_id, kind)
) WITHOUT ROWID;

-- Tokens of the responses without a price, next to `unpriced` (their count) in each rollup.
ALTER TABLE usage_rollup ADD COLUMN unpriced_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_hourly ADD COLUMN unpriced_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN unpriced_tokens INTEGER NOT NULL DEFAULT 0;

UPDATE usage_rollup SET unpriced_tokens = u.tokens
FROM (SELECT ts_ms / 900000 AS bucket, session_id, project, model,
             sum(input_tokens + output_tokens + cache_write_5m + cache_write_1h
                 + cache_read_tokens) AS tokens
      FROM usage WHERE cost_usd IS NULL GROUP BY 1, 2, 3, 4) AS u
WHERE usage_rollup.bucket = u.bucket AND usage_rollup.session_id = u.session_id
  AND usage_rollup.project = u.project AND usage_rollup.model = u.model;

UPDATE usage_hourly SET unpriced_tokens = u.tokens
FROM (SELECT bucket / 4 AS hour, project, model, sum(unpriced_tokens) AS tokens
      FROM usage_rollup GROUP BY 1, 2, 3) AS u
WHERE usage_hourly.hour = u.hour AND usage_hourly.project = u.project
  AND usage_hourly.model = u.model;

UPDATE usage_daily SET unpriced_tokens = u.tokens
FROM (SELECT hour / 24 AS day, project, model, sum(unpriced_tokens) AS tokens
      FROM usage_hourly GROUP BY 1, 2, 3) AS u
WHERE usage_daily.day = u.day AND usage_daily.project = u.project
  AND usage_daily.model = u.model;

-- The plan limits Claude Code ran into: a turn that ended on a `rate_limit` or `billing_error`
-- (the transcript's API-error line, or a `StopFailure` hook call).
CREATE TABLE limit_hits (
    session_id TEXT    NOT NULL,
    ts_ms      INTEGER NOT NULL,
    kind       TEXT    NOT NULL,   -- 'rate_limit', 'billing_error'
    detail     TEXT,
    PRIMARY KEY (session_id, ts_ms, kind)
) WITHOUT ROWID;
CREATE INDEX limit_hits_time ON limit_hits (ts_ms);

-- Each compaction of a session's context, from the transcript's `compact_boundary` line: the
-- context before and after it.
CREATE TABLE compactions (
    session_id  TEXT    NOT NULL,
    ts_ms       INTEGER NOT NULL,
    trigger     TEXT,              -- 'manual', 'auto'
    pre_tokens  INTEGER,
    post_tokens INTEGER,
    PRIMARY KEY (session_id, ts_ms)
) WITHOUT ROWID;

-- The context window Claude Code last reported for each model (status line).
CREATE TABLE model_windows (
    model          TEXT    PRIMARY KEY,
    context_window INTEGER NOT NULL,
    observed_ms    INTEGER NOT NULL
) WITHOUT ROWID;

-- The model an event concerns: a subagent's (requested at `PreToolUse`, the one it runs on
-- from its `PostToolUse`), the new one of a model switch, the session's at `SessionStart`.
ALTER TABLE events ADD COLUMN model TEXT;
