-- tollgate store, schema version 8: transcripts read in bounded steps, token counts checked as
-- they are read, and hook calls that could not wait for the write lock (spooled, written later).

-- 1 while reading through a line longer than the longest line read (ingest.rs,
-- `MAX_LINE_BYTES`): it is skipped to its end, which `offset` has not reached yet.
ALTER TABLE transcripts ADD COLUMN skipping INTEGER NOT NULL DEFAULT 0;

-- Transcript lines not counted, by kind: 'figures' (a token count that is not a whole number
-- from 0 to ingest.rs's `MAX_TOKENS`), 'oversized' (longer than `MAX_LINE_BYTES`).
CREATE TABLE ingest_rejections (
    kind        TEXT    PRIMARY KEY,
    count       INTEGER NOT NULL,
    last_ms     INTEGER NOT NULL,   -- when the last one was read
    last_reason TEXT    NOT NULL    -- the last one: file, byte offset, why
) WITHOUT ROWID;

-- The spool files (spool.rs) already written to the store, until the files are removed.
CREATE TABLE spool_drained (
    name TEXT PRIMARY KEY
) WITHOUT ROWID;

-- Responses an older tollgate stored with a token count out of range (a count over 2^63
-- wrapped to a negative number, or a sum that overflowed into a REAL) are removed, and the
-- usage rollups rebuilt from the rows that remain. 10000000 is ingest.rs's `MAX_TOKENS`.
CREATE TEMP TABLE bad_usage AS
SELECT id FROM usage
WHERE typeof(input_tokens) <> 'integer' OR input_tokens NOT BETWEEN 0 AND 10000000
   OR typeof(output_tokens) <> 'integer' OR output_tokens NOT BETWEEN 0 AND 10000000
   OR typeof(cache_write_5m) <> 'integer' OR cache_write_5m NOT BETWEEN 0 AND 10000000
   OR typeof(cache_write_1h) <> 'integer' OR cache_write_1h NOT BETWEEN 0 AND 10000000
   OR typeof(cache_read_tokens) <> 'integer' OR cache_read_tokens NOT BETWEEN 0 AND 10000000;

INSERT INTO ingest_rejections
SELECT 'figures', count(*), CAST(unixepoch('now', 'subsec') * 1000 AS INTEGER),
       count(*) || ' stored responses with a token count out of range, removed by the upgrade to schema version 8'
FROM bad_usage HAVING count(*) > 0;

DELETE FROM usage WHERE id IN (SELECT id FROM bad_usage);

-- A rollup row is broken when one of its sums is not an integer (then neither is their total)
-- or is negative.
CREATE TEMP TABLE rebuild AS
SELECT EXISTS (SELECT 1 FROM bad_usage)
    OR EXISTS (SELECT 1 FROM usage_rollup
               WHERE typeof(input_tokens + output_tokens + cache_write_5m + cache_write_1h
                            + cache_read_tokens) <> 'integer'
                  OR min(input_tokens, output_tokens, cache_write_5m, cache_write_1h,
                         cache_read_tokens) < 0)
    OR EXISTS (SELECT 1 FROM usage_hourly
               WHERE typeof(input_tokens + output_tokens + cache_write_5m + cache_write_1h
                            + cache_read_tokens) <> 'integer'
                  OR min(input_tokens, output_tokens, cache_write_5m, cache_write_1h,
                         cache_read_tokens) < 0)
    OR EXISTS (SELECT 1 FROM usage_daily
               WHERE typeof(input_tokens + output_tokens + cache_write_5m + cache_write_1h
                            + cache_read_tokens) <> 'integer'
                  OR min(input_tokens, output_tokens, cache_write_5m, cache_write_1h,
                         cache_read_tokens) < 0) AS yes;

DELETE FROM usage_rollup WHERE (SELECT yes FROM rebuild);
INSERT INTO usage_rollup
SELECT ts_ms / 900000, session_id, project, model, count(*), sum(input_tokens),
       sum(output_tokens), sum(cache_write_5m), sum(cache_write_1h), sum(cache_read_tokens),
       sum(coalesce(cost_usd, 0)), sum(cost_usd IS NULL), min(ts_ms), max(ts_ms),
       sum(CASE WHEN cost_usd IS NULL THEN input_tokens + output_tokens + cache_write_5m
                    + cache_write_1h + cache_read_tokens ELSE 0 END)
FROM usage WHERE (SELECT yes FROM rebuild) GROUP BY 1, 2, 3, 4;

DELETE FROM usage_hourly WHERE (SELECT yes FROM rebuild);
INSERT INTO usage_hourly
SELECT ts_ms / 3600000, model, project, count(*), sum(input_tokens), sum(output_tokens),
       sum(cache_write_5m), sum(cache_write_1h), sum(cache_read_tokens),
       sum(coalesce(cost_usd, 0)), sum(cost_usd IS NULL),
       sum(CASE WHEN cost_usd IS NULL THEN input_tokens + output_tokens + cache_write_5m
                    + cache_write_1h + cache_read_tokens ELSE 0 END)
FROM usage WHERE (SELECT yes FROM rebuild) GROUP BY 1, 2, 3;

DELETE FROM usage_daily WHERE (SELECT yes FROM rebuild);
INSERT INTO usage_daily
SELECT ts_ms / 86400000, model, project, count(*), sum(input_tokens), sum(output_tokens),
       sum(cache_write_5m), sum(cache_write_1h), sum(cache_read_tokens),
       sum(coalesce(cost_usd, 0)), sum(cost_usd IS NULL),
       sum(CASE WHEN cost_usd IS NULL THEN input_tokens + output_tokens + cache_write_5m
                    + cache_write_1h + cache_read_tokens ELSE 0 END)
FROM usage WHERE (SELECT yes FROM rebuild) GROUP BY 1, 2, 3;

DELETE FROM block_anchor WHERE (SELECT yes FROM rebuild);

-- A context size is at most four counts of a response.
UPDATE sessions SET context_tokens = NULL, context_ts = NULL
WHERE context_tokens IS NOT NULL
  AND (typeof(context_tokens) <> 'integer' OR context_tokens NOT BETWEEN 0 AND 40000000);

DROP TABLE bad_usage;
DROP TABLE rebuild;
