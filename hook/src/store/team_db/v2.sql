-- tollgate team database, schema version 2: what the spend bought. Like the rest, no path,
-- subject, commit message or URL: a file, commit or pull request is only a key (the first
-- 16 bytes of the SHA-256 of its path, hash or URL, hex) to count each once.

-- One row per outcome of a tool call (a file edit, a commit, a pull or merge request): keyed
-- by the machine and its local row id.
CREATE TABLE tollgate_work (
    machine       TEXT   NOT NULL,
    local_id      BIGINT NOT NULL,
    person        TEXT   NOT NULL,
    team          TEXT   NOT NULL,
    project       TEXT   NOT NULL,  -- the directory's last component
    session_id    TEXT   NOT NULL,
    ts_ms         BIGINT NOT NULL,
    kind          TEXT   NOT NULL,  -- 'edit', 'commit', 'pull_request'
    item          TEXT,             -- the key of the file, commit or pull request; NULL: unknown
    lines_added   BIGINT,           -- edit: NULL when not known
    lines_removed BIGINT,
    PRIMARY KEY (machine, local_id)
);
CREATE INDEX tollgate_work_team_ts ON tollgate_work (team, ts_ms);

-- Claude Code's own count of the lines a session's edits added and removed (its `cost-state`
-- lines): the highest count seen.
CREATE TABLE tollgate_session_lines (
    machine       TEXT   NOT NULL,
    session_id    TEXT   NOT NULL,
    person        TEXT   NOT NULL,
    team          TEXT   NOT NULL,
    lines_added   BIGINT NOT NULL,
    lines_removed BIGINT NOT NULL,
    observed_ms   BIGINT NOT NULL,
    PRIMARY KEY (machine, session_id)
);

-- The sessions whose tool calls' outcomes the hook watched (a `PostToolUse` recorded since
-- outcomes are): their commits and edits are all in `tollgate_work`; other sessions' are unknown.
CREATE TABLE tollgate_watched_sessions (
    machine    TEXT NOT NULL,
    session_id TEXT NOT NULL,
    person     TEXT NOT NULL,
    team       TEXT NOT NULL,
    PRIMARY KEY (machine, session_id)
);
