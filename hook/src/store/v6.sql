-- tollgate store, schema version 6: daily rollups. The usage snapshot on every hook call sums
-- a week; by hour that is ~170 rows per model and project (~500 usage rows and ~170 activity
-- rows on the benchmark's store), by UTC day ~8. A window is read as its 15-minute buckets up
-- to its first whole hour, its hours up to its first whole UTC day, then whole days (usage.rs,
-- `Cover`), so any zone and week start still sum exactly. Kept by the same writes as the
-- hourly rollups (store.rs: `roll_event`, `roll_usage`).

-- Usage per UTC day, model and project: usage_hourly summed by day.
CREATE TABLE usage_daily (
    day               INTEGER NOT NULL,  -- ts_ms / 86400000
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
    PRIMARY KEY (day, model, project)
) WITHOUT ROWID;

INSERT INTO usage_daily
SELECT hour / 24, model, project, sum(messages), sum(input_tokens), sum(output_tokens),
       sum(cache_write_5m), sum(cache_write_1h), sum(cache_read_tokens), sum(cost_usd),
       sum(unpriced)
FROM usage_hourly GROUP BY 1, 2, 3;

-- Tool calls and prompts per UTC day and project: event_hourly summed by day.
CREATE TABLE event_daily (
    day        INTEGER NOT NULL,
    project    TEXT    NOT NULL,
    tool_calls INTEGER NOT NULL,
    prompts    INTEGER NOT NULL,
    PRIMARY KEY (day, project)
) WITHOUT ROWID;

INSERT INTO event_daily
SELECT hour / 24, project, sum(tool_calls), sum(prompts) FROM event_hourly GROUP BY 1, 2;
