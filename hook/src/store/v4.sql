-- tollgate store, schema version 4: what the hook's usage snapshot reads on every call, made
-- small. A week of 15-minute rollups is ~2,000 rows per session mix; the same week by hour,
-- model and project is a quarter of that, and the 5-hour block is found from a saved anchor
-- instead of re-walking 8 days of activity.

-- Usage per hour, model and project: usage_rollup summed without its session and 15-minute
-- split (kept by the triggers below from usage_rollup's own changes).
CREATE TABLE usage_hourly (
    hour              INTEGER NOT NULL,  -- ts_ms / 3600000
    model             TEXT    NOT NULL,
    project           TEXT    NOT NULL,
    messages          INTEGER NOT NULL,
    input_tokens      INTEGER NOT NULL,
    output_tokens     INTEGER NOT NULL,
    cache_write_5m    INTEGER NOT NULL,
    cache_write_1h    INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cost_usd          REAL    NOT NULL,
    unpriced          INTEGER NOT NULL,
    PRIMARY KEY (hour, model, project)
) WITHOUT ROWID;

INSERT INTO usage_hourly
SELECT bucket / 4, model, project, sum(messages), sum(input_tokens), sum(output_tokens),
       sum(cache_write_5m), sum(cache_write_1h), sum(cache_read_tokens), sum(cost_usd),
       sum(unpriced)
FROM usage_rollup GROUP BY 1, 2, 3;

-- A rollup row is inserted (first response in its bucket) or updated (every later change);
-- either way the hour gets the difference.
CREATE TRIGGER usage_hourly_insert AFTER INSERT ON usage_rollup BEGIN
    INSERT INTO usage_hourly VALUES (
        NEW.bucket / 4, NEW.model, NEW.project, NEW.messages, NEW.input_tokens,
        NEW.output_tokens, NEW.cache_write_5m, NEW.cache_write_1h, NEW.cache_read_tokens,
        NEW.cost_usd, NEW.unpriced)
    ON CONFLICT DO UPDATE SET
        messages = messages + excluded.messages,
        input_tokens = input_tokens + excluded.input_tokens,
        output_tokens = output_tokens + excluded.output_tokens,
        cache_write_5m = cache_write_5m + excluded.cache_write_5m,
        cache_write_1h = cache_write_1h + excluded.cache_write_1h,
        cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
        cost_usd = cost_usd + excluded.cost_usd,
        unpriced = unpriced + excluded.unpriced;
END;

CREATE TRIGGER usage_hourly_update AFTER UPDATE ON usage_rollup BEGIN
    UPDATE usage_hourly SET
        messages = messages + NEW.messages - OLD.messages,
        input_tokens = input_tokens + NEW.input_tokens - OLD.input_tokens,
        output_tokens = output_tokens + NEW.output_tokens - OLD.output_tokens,
        cache_write_5m = cache_write_5m + NEW.cache_write_5m - OLD.cache_write_5m,
        cache_write_1h = cache_write_1h + NEW.cache_write_1h - OLD.cache_write_1h,
        cache_read_tokens = cache_read_tokens + NEW.cache_read_tokens - OLD.cache_read_tokens,
        cost_usd = cost_usd + NEW.cost_usd - OLD.cost_usd,
        unpriced = unpriced + NEW.unpriced - OLD.unpriced
    WHERE hour = NEW.bucket / 4 AND model = NEW.model AND project = NEW.project;
END;

-- Tool calls and prompts per hour and project, kept the same way from event_rollup.
CREATE TABLE event_hourly (
    hour       INTEGER NOT NULL,
    project    TEXT    NOT NULL,
    tool_calls INTEGER NOT NULL,
    prompts    INTEGER NOT NULL,
    PRIMARY KEY (hour, project)
) WITHOUT ROWID;

INSERT INTO event_hourly
SELECT bucket / 4, project, sum(tool_calls), sum(prompts) FROM event_rollup GROUP BY 1, 2;

CREATE TRIGGER event_hourly_insert AFTER INSERT ON event_rollup BEGIN
    INSERT INTO event_hourly VALUES (NEW.bucket / 4, NEW.project, NEW.tool_calls, NEW.prompts)
    ON CONFLICT DO UPDATE SET
        tool_calls = tool_calls + excluded.tool_calls,
        prompts = prompts + excluded.prompts;
END;

CREATE TRIGGER event_hourly_update AFTER UPDATE ON event_rollup BEGIN
    UPDATE event_hourly SET
        tool_calls = tool_calls + NEW.tool_calls - OLD.tool_calls,
        prompts = prompts + NEW.prompts - OLD.prompts
    WHERE hour = NEW.bucket / 4 AND project = NEW.project;
END;

-- Where the chain of 5-hour blocks may be resumed: the first bucket of the latest block found,
-- and its first message. Blocks are found by walking activity forward, so the walk from this
-- bucket gives the same blocks as the walk from the beginning, unless a response older than
-- that first message arrives (an import, a late transcript): then the anchor is dropped and
-- the next snapshot walks the whole look-back again.
CREATE TABLE block_anchor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    bucket   INTEGER NOT NULL,
    first_ts INTEGER NOT NULL
);

CREATE TRIGGER block_anchor_reset AFTER INSERT ON usage
WHEN NEW.ts_ms < (SELECT first_ts FROM block_anchor) BEGIN
    DELETE FROM block_anchor;
END;
