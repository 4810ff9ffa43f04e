//! What the spend bought: the outcomes of tool calls (file edits with their lines, commits,
//! pull requests), recorded from their `PostToolUse`, and Claude Code's own count of the lines
//! a session's edits changed (its `cost-state` lines).

use crate::store::cells::{SELECTED, Selection};
use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

/// What one tool call produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Work {
    /// A file written or edited.
    Edit {
        /// The file (`None` when subjects are not recorded).
        file: Option<String>,
        /// Lines added and removed, when the tool's answer tells.
        lines: Option<Lines>,
    },
    /// A commit made; its hash.
    Commit(String),
    /// A pull (merge) request opened; its URL.
    PullRequest(String),
}

/// Lines added and removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lines {
    /// Added.
    pub added: u64,
    /// Removed.
    pub removed: u64,
}

impl std::ops::AddAssign for Lines {
    fn add_assign(&mut self, other: Self) {
        self.added += other.added;
        self.removed += other.removed;
    }
}

/// The event a tool call's work is recorded with.
#[derive(Debug, Clone, Copy)]
pub struct WorkEvent<'a> {
    /// Its row in `events`.
    pub event_id: i64,
    /// When, Unix ms.
    pub ts_ms: i64,
    /// Its session.
    pub session_id: &'a str,
    /// Its project.
    pub project: &'a str,
}

/// Records what the call `event` produced.
pub fn record(tx: &Transaction<'_>, event: WorkEvent<'_>, work: &[Work]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO work (event_id, ts_ms, session_id, project, kind, file, lines_added,
                           lines_removed, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for item in work {
        let (kind, file, lines, detail) = match item {
            Work::Edit { file, lines } => ("edit", file.as_deref(), *lines, None),
            Work::Commit(hash) => ("commit", None, None, Some(hash.as_str())),
            Work::PullRequest(url) => ("pull_request", None, None, Some(url.as_str())),
        };
        stmt.execute(params![
            event.event_id,
            event.ts_ms,
            event.session_id,
            event.project,
            kind,
            file,
            lines.map(|l| l.added as i64),
            lines.map(|l| l.removed as i64),
            detail,
        ])?;
    }
    Ok(())
}

/// Records Claude Code's count of the lines `session`'s edits changed so far. A count lower
/// than the one recorded (an older line read later) keeps the higher one.
pub fn record_claude_code_lines(
    tx: &Transaction<'_>,
    session: &str,
    lines: Lines,
    now_ms: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO claude_code_lines (session_id, lines_added, lines_removed, observed_ms)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (session_id) DO UPDATE SET
             lines_added = max(lines_added, excluded.lines_added),
             lines_removed = max(lines_removed, excluded.lines_removed),
             observed_ms = excluded.observed_ms",
    )?
    .execute(params![
        session,
        lines.added as i64,
        lines.removed as i64,
        now_ms
    ])
    .map(drop)
}

/// One recorded outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkRow {
    /// When, Unix ms.
    pub ts_ms: i64,
    /// Its session.
    pub session_id: String,
    /// Its project.
    pub project: String,
    /// What it was.
    pub work: Work,
}

/// What the store knows of one session's outcomes beyond its [`WorkRow`]s.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionFacts {
    /// First and last activity (responses, events) over all time, Unix ms.
    pub span: (i64, i64),
    /// Whether the hook watched its tool calls' outcomes (a `PostToolUse` since outcomes are
    /// recorded): then a commit or edit it made is in the rows.
    pub watched: bool,
    /// Whether any of its tool calls was recorded (then the files its edits touched are known).
    pub tools_seen: bool,
    /// Claude Code's own count of its lines, when a `cost-state` line had it.
    pub claude_code_lines: Option<Lines>,
}

/// The outcomes recorded in `selection`, oldest first.
pub fn work_in(conn: &Connection, selection: &Selection<'_>) -> rusqlite::Result<Vec<WorkRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT ts_ms, session_id, project, kind, file, lines_added, lines_removed, detail
         FROM work WHERE {SELECTED} ORDER BY ts_ms, id"
    ))?;
    let (since, until, projects) = selection.params();
    let rows = stmt.query_map(params![since, until, projects], |r| {
        let kind: String = r.get(3)?;
        let detail = r.get::<_, Option<String>>(7)?.unwrap_or_default();
        let count = |i: usize| -> rusqlite::Result<Option<u64>> {
            Ok(r.get::<_, Option<i64>>(i)?.map(|n| n.max(0) as u64))
        };
        let work = match kind.as_str() {
            "commit" => Work::Commit(detail),
            "pull_request" => Work::PullRequest(detail),
            _ => Work::Edit {
                file: r.get(4)?,
                lines: match (count(5)?, count(6)?) {
                    (Some(added), Some(removed)) => Some(Lines { added, removed }),
                    _ => None,
                },
            },
        };
        Ok(WorkRow {
            ts_ms: r.get(0)?,
            session_id: r.get(1)?,
            project: r.get(2)?,
            work,
        })
    })?;
    rows.collect()
}

/// What the store knows of each of `sessions`.
pub fn session_facts<'a>(
    conn: &Connection,
    sessions: impl IntoIterator<Item = &'a str>,
) -> rusqlite::Result<HashMap<String, SessionFacts>> {
    let since: i64 = conn
        .query_row(
            "SELECT since_ms FROM work_recorded_since WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(i64::MAX);
    let mut usage_span = conn.prepare_cached(
        "SELECT min(first_ts), max(last_ts) FROM usage_rollup WHERE session_id = ?1",
    )?;
    // Each part a lookup in `events_session` (session, time), not a walk of the session's events.
    let mut event_span = conn.prepare_cached(
        "SELECT (SELECT min(ts_ms) FROM events WHERE session_id = ?1),
                (SELECT max(ts_ms) FROM events WHERE session_id = ?1),
                EXISTS (SELECT 1 FROM events WHERE session_id = ?1 AND ts_ms >= ?2
                          AND event IN ('PostToolUse', 'PostToolUseFailure')),
                EXISTS (SELECT 1 FROM events WHERE session_id = ?1
                          AND event IN ('PostToolUse', 'PostToolUseFailure'))",
    )?;
    let mut lines = conn.prepare_cached(
        "SELECT lines_added, lines_removed FROM claude_code_lines WHERE session_id = ?1",
    )?;
    let mut facts = HashMap::new();
    for session in sessions {
        if facts.contains_key(session) {
            continue;
        }
        let (u_first, u_last): (Option<i64>, Option<i64>) =
            usage_span.query_row([session], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let (e_first, e_last, watched, tools_seen): (Option<i64>, Option<i64>, bool, bool) =
            event_span.query_row(params![session, since], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
        let first = [u_first, e_first].into_iter().flatten().min().unwrap_or(0);
        let last = [u_last, e_last].into_iter().flatten().max().unwrap_or(0);
        let claude_code_lines = lines
            .query_row([session], |r| {
                Ok(Lines {
                    added: r.get::<_, i64>(0)?.max(0) as u64,
                    removed: r.get::<_, i64>(1)?.max(0) as u64,
                })
            })
            .optional()?;
        facts.insert(
            session.to_owned(),
            SessionFacts {
                span: (first, last),
                watched,
                tools_seen,
                claude_code_lines,
            },
        );
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventRow, Store, insert_event};

    fn post_tool_use(tx: &Transaction<'_>, session: &str, ts_ms: i64) -> rusqlite::Result<i64> {
        insert_event(
            tx,
            &EventRow {
                ts_ms,
                session_id: session.into(),
                project: "/p".into(),
                event: "PostToolUse".into(),
                tool_name: Some("Edit".into()),
                subject: Some("/p/a.rs".into()),
                ..EventRow::default()
            },
        )
    }

    /// Work written is read back in order, within the range and projects asked for.
    #[test]
    fn work_is_read_back_within_its_range() {
        let mut store = Store::open_in_memory().unwrap();
        let now = chrono::Utc::now().timestamp_millis();
        store
            .write(|tx| {
                for (i, work) in [
                    Work::Edit {
                        file: Some("/p/a.rs".into()),
                        lines: Some(Lines {
                            added: 3,
                            removed: 1,
                        }),
                    },
                    Work::Commit("abc1234".into()),
                    Work::PullRequest("https://github.com/o/r/pull/7".into()),
                ]
                .into_iter()
                .enumerate()
                {
                    let ts_ms = now + i as i64 * 1000;
                    let event_id = post_tool_use(tx, "s", ts_ms)?;
                    let event = WorkEvent {
                        event_id,
                        ts_ms,
                        session_id: "s",
                        project: "/p",
                    };
                    record(tx, event, &[work])?;
                }
                Ok(())
            })
            .unwrap();
        let all = work_in(store.conn(), &Selection::ALL).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].work, Work::Commit("abc1234".into()));
        let later = work_in(
            store.conn(),
            &Selection {
                since_ms: now + 500,
                ..Selection::ALL
            },
        )
        .unwrap();
        assert_eq!(later.len(), 2);
        let other = work_in(
            store.conn(),
            &Selection {
                projects: Some(&["/q".to_owned()]),
                ..Selection::ALL
            },
        )
        .unwrap();
        assert!(other.is_empty());
        let facts = session_facts(store.conn(), ["s", "never"]).unwrap();
        assert!(facts["s"].watched && facts["s"].tools_seen);
        assert_eq!(facts["s"].span, (now, now + 2000));
        assert!(!facts["never"].watched && !facts["never"].tools_seen);
    }

    /// Claude Code's count keeps the highest figures; a session before outcomes were recorded
    /// is not watched.
    #[test]
    fn claude_code_lines_keep_the_highest_count() {
        let mut store = Store::open_in_memory().unwrap();
        store
            .write(|tx| {
                record_claude_code_lines(
                    tx,
                    "s",
                    Lines {
                        added: 10,
                        removed: 2,
                    },
                    1,
                )?;
                record_claude_code_lines(
                    tx,
                    "s",
                    Lines {
                        added: 7,
                        removed: 5,
                    },
                    2,
                )?;
                post_tool_use(tx, "s", 1_000)
            })
            .unwrap();
        let facts = session_facts(store.conn(), ["s"]).unwrap();
        assert_eq!(
            facts["s"].claude_code_lines,
            Some(Lines {
                added: 10,
                removed: 5
            })
        );
        assert!(!facts["s"].watched, "its tool call predates the recording");
        assert!(facts["s"].tools_seen);
    }
}
