-- tollgate store, schema version 1.
-- Times are Unix milliseconds (UTC). Rollup buckets are 15 minutes wide: bucket = ts_ms / 900000.

-- Every hook call: one row, written before the policies run, completed with the answer.
CREATE TABLE events (
    id             INTEGER PRIMARY KEY,
    ts_ms          INTEGER NOT NULL,
    session_id     TEXT    NOT NULL,
    project        TEXT    NOT NULL,
    event          TEXT    NOT NULL,
    tool_name      TEXT,
    tool_use_id    TEXT,
    agent_id       TEXT,
    subject        TEXT,
    input_bytes    INTEGER NOT NULL DEFAULT 0,
    response_bytes INTEGER NOT NULL DEFAULT 0,
    est_tokens     INTEGER NOT NULL DEFAULT 0,
    decision       TEXT,
    reason         TEXT,
    model_requested TEXT,
    latency_us     INTEGER,
    note           TEXT
);
CREATE INDEX events_ts ON events (ts_ms);
CREATE INDEX events_session ON events (session_id, ts_ms);
CREATE INDEX events_tool_use ON events (tool_use_id) WHERE tool_use_id IS NOT NULL;

-- Each policy's result for each event.
CREATE TABLE policy_runs (
    event_id   INTEGER NOT NULL,
    policy     TEXT    NOT NULL,
    decision   TEXT    NOT NULL,
    reason     TEXT,
    error      TEXT,
    elapsed_us INTEGER NOT NULL
);
CREATE INDEX policy_runs_event ON policy_runs (event_id);

-- One row per assistant API response found in a transcript, deduplicated by message + request.
CREATE TABLE usage (
    id                INTEGER PRIMARY KEY,
    message_id        TEXT    NOT NULL,
    request_id        TEXT    NOT NULL,
    ts_ms             INTEGER NOT NULL,
    session_id        TEXT    NOT NULL,
    project           TEXT    NOT NULL,
    model             TEXT    NOT NULL,
    sidechain         INTEGER NOT NULL,
    agent_id          TEXT,
    input_tokens      INTEGER NOT NULL,
    output_tokens     INTEGER NOT NULL,
    cache_write_5m    INTEGER NOT NULL,
    cache_write_1h    INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cost_usd          REAL,             -- NULL: the model has no price (unknown, not zero)
    UNIQUE (message_id, request_id)
);
CREATE INDEX usage_ts ON usage (ts_ms);
CREATE INDEX usage_session ON usage (session_id, ts_ms);

-- Usage summed per 15-minute bucket, session, project and model; kept by the triggers below.
CREATE TABLE usage_rollup (
    bucket            INTEGER NOT NULL,
    session_id        TEXT    NOT NULL,
    project           TEXT    NOT NULL,
    model             TEXT    NOT NULL,
    messages          INTEGER NOT NULL,
    input_tokens      INTEGER NOT NULL,
    output_tokens     INTEGER NOT NULL,
    cache_write_5m    INTEGER NOT NULL,
    cache_write_1h    INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cost_usd          REAL    NOT NULL,
    unpriced          INTEGER NOT NULL,
    first_ts          INTEGER NOT NULL,
    last_ts           INTEGER NOT NULL,
    PRIMARY KEY (bucket, session_id, project, model)
) WITHOUT ROWID;
CREATE INDEX usage_rollup_session ON usage_rollup (session_id);

CREATE TRIGGER usage_rollup_insert AFTER INSERT ON usage BEGIN
    INSERT INTO usage_rollup VALUES (
        NEW.ts_ms / 900000, NEW.session_id, NEW.project, NEW.model, 1,
        NEW.input_tokens, NEW.output_tokens, NEW.cache_write_5m, NEW.cache_write_1h,
        NEW.cache_read_tokens, coalesce(NEW.cost_usd, 0), NEW.cost_usd IS NULL,
        NEW.ts_ms, NEW.ts_ms)
    ON CONFLICT DO UPDATE SET
        messages = messages + 1,
        input_tokens = input_tokens + excluded.input_tokens,
        output_tokens = output_tokens + excluded.output_tokens,
        cache_write_5m = cache_write_5m + excluded.cache_write_5m,
        cache_write_1h = cache_write_1h + excluded.cache_write_1h,
        cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
        cost_usd = cost_usd + excluded.cost_usd,
        unpriced = unpriced + excluded.unpriced,
        first_ts = min(first_ts, excluded.first_ts),
        last_ts = max(last_ts, excluded.last_ts);
END;

-- A message seen again with larger figures replaces its tokens (its time and keys stay).
CREATE TRIGGER usage_rollup_update AFTER UPDATE ON usage BEGIN
    UPDATE usage_rollup SET
        input_tokens = input_tokens - OLD.input_tokens + NEW.input_tokens,
        output_tokens = output_tokens - OLD.output_tokens + NEW.output_tokens,
        cache_write_5m = cache_write_5m - OLD.cache_write_5m + NEW.cache_write_5m,
        cache_write_1h = cache_write_1h - OLD.cache_write_1h + NEW.cache_write_1h,
        cache_read_tokens = cache_read_tokens - OLD.cache_read_tokens + NEW.cache_read_tokens,
        cost_usd = cost_usd - coalesce(OLD.cost_usd, 0) + coalesce(NEW.cost_usd, 0),
        unpriced = unpriced - (OLD.cost_usd IS NULL) + (NEW.cost_usd IS NULL)
    WHERE bucket = OLD.ts_ms / 900000 AND session_id = OLD.session_id
      AND project = OLD.project AND model = OLD.model;
END;

-- A sidechain copy replaced by the main chain's copy of the same response.
CREATE TRIGGER usage_rollup_delete AFTER DELETE ON usage BEGIN
    UPDATE usage_rollup SET
        messages = messages - 1,
        input_tokens = input_tokens - OLD.input_tokens,
        output_tokens = output_tokens - OLD.output_tokens,
        cache_write_5m = cache_write_5m - OLD.cache_write_5m,
        cache_write_1h = cache_write_1h - OLD.cache_write_1h,
        cache_read_tokens = cache_read_tokens - OLD.cache_read_tokens,
        cost_usd = cost_usd - coalesce(OLD.cost_usd, 0),
        unpriced = unpriced - (OLD.cost_usd IS NULL)
    WHERE bucket = OLD.ts_ms / 900000 AND session_id = OLD.session_id
      AND project = OLD.project AND model = OLD.model;
END;

-- Tool calls (PreToolUse) and prompts (UserPromptSubmit) per bucket, session and project.
CREATE TABLE event_rollup (
    bucket     INTEGER NOT NULL,
    session_id TEXT    NOT NULL,
    project    TEXT    NOT NULL,
    tool_calls INTEGER NOT NULL,
    prompts    INTEGER NOT NULL,
    PRIMARY KEY (bucket, session_id, project)
) WITHOUT ROWID;
CREATE INDEX event_rollup_session ON event_rollup (session_id);

CREATE TRIGGER event_rollup_insert AFTER INSERT ON events
WHEN NEW.event IN ('PreToolUse', 'UserPromptSubmit') BEGIN
    INSERT INTO event_rollup VALUES (
        NEW.ts_ms / 900000, NEW.session_id, NEW.project,
        NEW.event = 'PreToolUse', NEW.event = 'UserPromptSubmit')
    ON CONFLICT DO UPDATE SET
        tool_calls = tool_calls + excluded.tool_calls,
        prompts = prompts + excluded.prompts;
END;

-- Per session: the main model and the live context size (from the latest main-chain response).
CREATE TABLE sessions (
    session_id     TEXT PRIMARY KEY,
    project        TEXT,
    model          TEXT,
    context_tokens INTEGER,
    context_ts     INTEGER
) WITHOUT ROWID;

-- How far each transcript file has been read.
CREATE TABLE transcripts (
    path   TEXT PRIMARY KEY,
    inode  INTEGER NOT NULL,
    size   INTEGER NOT NULL,
    offset INTEGER NOT NULL
) WITHOUT ROWID;

-- Each policy's `state`, passed back on its next evaluation.
CREATE TABLE policy_state (
    policy TEXT PRIMARY KEY,
    state  TEXT NOT NULL
) WITHOUT ROWID;
