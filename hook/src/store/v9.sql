-- tollgate store, schema version 9: what the spend bought. Times are Unix milliseconds (UTC).

-- What tool calls produced, from their `PostToolUse`: a file edit (the file, and the lines it
-- added and removed when the tool's answer says), a commit, a pull or merge request.
CREATE TABLE work (
    id            INTEGER PRIMARY KEY,
    event_id      INTEGER NOT NULL,   -- the PostToolUse row in `events`
    ts_ms         INTEGER NOT NULL,
    session_id    TEXT    NOT NULL,
    project       TEXT    NOT NULL,
    kind          TEXT    NOT NULL,   -- 'edit', 'commit', 'pull_request'
    file          TEXT,               -- edit: the file (NULL when subjects are not recorded)
    lines_added   INTEGER,            -- edit: NULL when not known
    lines_removed INTEGER,
    detail        TEXT                -- commit: its hash; pull request: its URL
);
CREATE INDEX work_time ON work (ts_ms);
CREATE INDEX work_session ON work (session_id, ts_ms);

-- Since when tool calls' outcomes are recorded: a session with a `PostToolUse` after this
-- made no commit the hook did not see (before it, commits were not looked for).
CREATE TABLE work_recorded_since (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    since_ms INTEGER NOT NULL
);
INSERT INTO work_recorded_since VALUES (1, CAST(unixepoch('now', 'subsec') * 1000 AS INTEGER));

-- The files edits touched before: from the recorded subjects of `PostToolUse` calls of the
-- file tools (their lines were not recorded).
INSERT INTO work (event_id, ts_ms, session_id, project, kind, file)
SELECT id, ts_ms, session_id, project, 'edit', subject FROM events
WHERE event = 'PostToolUse' AND tool_name IN ('Edit', 'MultiEdit', 'Write', 'NotebookEdit')
  AND subject IS NOT NULL;

-- Claude Code's own count of the lines its edits added and removed in a session
-- (`totalLinesAdded`, `totalLinesRemoved` of its `cost-state` lines).
CREATE TABLE claude_code_lines (
    session_id    TEXT PRIMARY KEY,
    lines_added   INTEGER NOT NULL,
    lines_removed INTEGER NOT NULL,
    observed_ms   INTEGER NOT NULL
) WITHOUT ROWID;
