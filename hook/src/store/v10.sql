-- tollgate store, schema version 10: usage per session, project and model, so that the session,
-- model and project reports over all time read one row per session and model instead of every
-- 15-minute bucket. Kept by the same writes as the other usage rollups (store.rs,
-- `RollupBatch`).
CREATE TABLE usage_sessions (
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
    unpriced_tokens   INTEGER NOT NULL,
    first_ts          INTEGER NOT NULL,
    last_ts           INTEGER NOT NULL,
    PRIMARY KEY (session_id, project, model)
) WITHOUT ROWID;

INSERT INTO usage_sessions
SELECT session_id, project, model, sum(messages), sum(input_tokens), sum(output_tokens),
       sum(cache_write_5m), sum(cache_write_1h), sum(cache_read_tokens), sum(cost_usd),
       sum(unpriced), sum(unpriced_tokens), min(first_ts), max(last_ts)
FROM usage_rollup GROUP BY 1, 2, 3;
