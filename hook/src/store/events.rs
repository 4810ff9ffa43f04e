//! The recorded hook events: as `tollgate log` lists them, as a replay reads them, and what
//! `status` and the reports look up in them.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use crate::store::cells::{SELECTED, Selection};
use crate::store::downgrade::{self, Downgrade};

/// One recorded event.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedEvent {
    /// Store row id.
    pub id: i64,
    /// When, RFC 3339 UTC.
    pub time: String,
    /// Session id.
    pub session_id: String,
    /// Project (cwd).
    pub project: String,
    /// Hook event.
    pub event: String,
    /// Tool name.
    pub tool: Option<String>,
    /// What the tool touched, or what the event was about.
    pub subject: Option<String>,
    /// The model the event concerns: a subagent's (requested, then the one it runs on), a model
    /// switch's new one, the session's at its start.
    pub model: Option<String>,
    /// Estimated tokens the tool result added.
    pub est_tokens: i64,
    /// The answer.
    pub decision: Option<String>,
    /// Its reason.
    pub reason: Option<String>,
    /// Downgrade target.
    pub model_requested: Option<String>,
    /// For a downgrade: the model asked for, the one the subagent ran on, and whether it
    /// took effect (checked on the call's `PostToolUse`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downgrade: Option<Downgrade>,
    /// Hook latency in microseconds.
    pub latency_us: Option<i64>,
    /// Internal errors.
    pub note: Option<String>,
}

/// The newest `limit` events since `since_ms` (of the sessions whose id starts with `session`,
/// if given), oldest first, each downgrade with what became of it.
pub fn recent(
    conn: &Connection,
    since_ms: i64,
    session: Option<&str>,
    limit: u32,
) -> rusqlite::Result<Vec<LoggedEvent>> {
    let session = session.map(|s| format!("{s}%"));
    let mut stmt = conn.prepare(
        "SELECT id, ts_ms, session_id, project, event, tool_name, subject, est_tokens, decision,
                reason, model_requested, latency_us, note, model
         FROM events
         WHERE ts_ms >= ?1 AND (?2 IS NULL OR session_id LIKE ?2)
         ORDER BY ts_ms DESC, id DESC LIMIT ?3",
    )?;
    let mut events = stmt
        .query_map(rusqlite::params![since_ms, session, limit], |r| {
            Ok(LoggedEvent {
                id: r.get(0)?,
                time: DateTime::<Utc>::from_timestamp_millis(r.get(1)?)
                    .unwrap_or_default()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                session_id: r.get(2)?,
                project: r.get(3)?,
                event: r.get(4)?,
                tool: r.get(5)?,
                subject: r.get(6)?,
                est_tokens: r.get(7)?,
                decision: r.get(8)?,
                reason: r.get(9)?,
                model_requested: r.get(10)?,
                downgrade: None,
                latency_us: r.get(11)?,
                note: r.get(12)?,
                model: r.get(13)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    events.reverse();
    let ids: Vec<i64> = events
        .iter()
        .filter(|e| e.model_requested.is_some())
        .map(|e| e.id)
        .collect();
    let mut downgrades = downgrade::for_events(conn, &ids)?;
    for event in &mut events {
        event.downgrade = downgrades.remove(&event.id);
    }
    Ok(events)
}

/// One recorded event as a replay reads it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Unix ms.
    pub ts_ms: i64,
    /// Session id.
    pub session_id: String,
    /// Project (cwd).
    pub project: String,
    /// Hook event.
    pub event: String,
    /// Tool name.
    pub tool: Option<String>,
    /// The call's `tool_use_id`.
    pub tool_use_id: Option<String>,
    /// What the tool touched.
    pub subject: Option<String>,
    /// Estimated tokens the tool result added.
    pub est_tokens: u64,
    /// What the hook answered.
    pub decision: Option<String>,
    /// The hook input as policies read it (`None` for events recorded before it was kept).
    pub input: Option<String>,
    /// The first response written before the event that the hook had not read when it
    /// decided, Unix ms (`None`: it had read them all, or this is not known).
    pub unread_response_ms: Option<i64>,
}

/// The events recorded from `since_ms` on, oldest first.
pub fn recorded_since(conn: &Connection, since_ms: i64) -> rusqlite::Result<Vec<Recorded>> {
    conn.prepare(
        "SELECT ts_ms, session_id, project, event, tool_name, tool_use_id, subject, est_tokens,
                decision, input,
                (SELECT min(u.ts_ms) FROM usage u
                 WHERE u.ts_ms > e.ts_ms - 3600000 AND u.ts_ms <= e.ts_ms
                   AND u.id > e.usage_seen)
         FROM events e WHERE ts_ms >= ?1 ORDER BY ts_ms, id",
    )?
    .query_map([since_ms], |r| {
        Ok(Recorded {
            ts_ms: r.get(0)?,
            session_id: r.get(1)?,
            project: r.get(2)?,
            event: r.get(3)?,
            tool: r.get(4)?,
            tool_use_id: r.get(5)?,
            subject: r.get(6)?,
            est_tokens: r.get::<_, i64>(7)?.max(0) as u64,
            decision: r.get(8)?,
            input: r.get(9)?,
            unread_response_ms: r.get(10)?,
        })
    })?
    .collect()
}

/// Every project with responses or events.
pub fn projects(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare(
        "SELECT DISTINCT project FROM usage_rollup UNION SELECT DISTINCT project FROM events",
    )?
    .query_map([], |r| r.get(0))?
    .collect()
}

/// The answered events in `selection` counted per 15-minute bucket and decision, by bucket.
pub fn decisions_by_bucket(
    conn: &Connection,
    selection: &Selection<'_>,
) -> rusqlite::Result<Vec<(i64, String, u64)>> {
    let (since, until, projects) = selection.params();
    conn.prepare(&format!(
        "SELECT ts_ms / ?4, decision, count(*) FROM events
         WHERE decision IS NOT NULL AND {SELECTED}
         GROUP BY 1, 2 ORDER BY 1"
    ))?
    .query_map(
        rusqlite::params![since, until, projects, crate::store::BUCKET_MS],
        |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64)),
    )?
    .collect()
}

/// The latest session: (id, project, last activity ms). The most recently active one (up to
/// `now_ms`) in the events or the status-line observations, or the newest matching `prefix`.
pub fn latest_session(
    conn: &Connection,
    prefix: Option<&str>,
    now_ms: i64,
) -> rusqlite::Result<Option<(String, Option<String>, i64)>> {
    let pattern = prefix.map(|p| format!("{p}%"));
    conn.prepare(
        "SELECT sid, max(ts), (SELECT project FROM events WHERE session_id = sid
                               ORDER BY ts_ms DESC LIMIT 1)
         FROM (SELECT session_id AS sid, ts_ms AS ts FROM events
               WHERE ?1 IS NULL OR session_id LIKE ?1
               UNION ALL
               SELECT session_id, observed_ms FROM session_status
               WHERE ?1 IS NULL OR session_id LIKE ?1)
         WHERE sid != '' AND ts <= ?2 GROUP BY sid ORDER BY max(ts) DESC LIMIT 1",
    )?
    .query_row(rusqlite::params![pattern, now_ms], |r| {
        Ok((r.get(0)?, r.get(2)?, r.get(1)?))
    })
    .optional()
}
