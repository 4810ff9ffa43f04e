-- tollgate store, schema version 3: team sync (`tollgate sync`). The hook only reads
-- `team_cache`; the network is never on the hook's path.

-- Sync bookkeeping: this machine's random id and, per pushed table, the highest local row
-- the shared database has acknowledged (advanced only after the remote commit).
CREATE TABLE team_sync (
    key   TEXT PRIMARY KEY,   -- machine_id, mark:usage, mark:events, mark:downgrades
    value TEXT NOT NULL
) WITHOUT ROWID;

-- The team's figures as last pulled: one JSON document (the ABI's `usage.team` without
-- `stale`) and when it was pulled.
CREATE TABLE team_cache (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    synced_ms INTEGER NOT NULL,
    doc       TEXT    NOT NULL
);
