//! What the hook events other than tool calls say about a session: its model (at its start, after
//! a switch), the model a subagent starts on, its latest compaction.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// Records `model` as `session`'s: `replace` for a switch, else only when none is known yet.
pub fn set_session_model(
    tx: &Transaction<'_>,
    session: &str,
    project: &str,
    model: &str,
    replace: bool,
) -> rusqlite::Result<()> {
    let sql = if replace {
        "INSERT INTO sessions (session_id, project, model) VALUES (?1, ?2, ?3)
         ON CONFLICT (session_id) DO UPDATE SET model = excluded.model"
    } else {
        "INSERT INTO sessions (session_id, project, model) VALUES (?1, ?2, ?3)
         ON CONFLICT (session_id) DO UPDATE SET model = coalesce(sessions.model, excluded.model)"
    };
    tx.prepare_cached(sql)?
        .execute(params![session, project, model])
        .map(drop)
}

/// The model the latest subagent call (`Agent`/`Task` PreToolUse) of `session` asked for: the
/// one tollgate moved it to, else the one it named, else the session's (it inherits it).
pub fn subagent_call_model(conn: &Connection, session: &str) -> rusqlite::Result<Option<String>> {
    let requested: Option<Option<String>> = conn
        .prepare_cached(
            "SELECT coalesce(model_requested, model) FROM events
             WHERE session_id = ?1 AND event = 'PreToolUse' AND tool_name IN ('Agent', 'Task')
             ORDER BY ts_ms DESC, id DESC LIMIT 1",
        )?
        .query_row([session], |r| r.get(0))
        .optional()?;
    match requested.flatten().filter(|m| m != "inherit") {
        Some(model) => Ok(Some(model)),
        None => conn
            .prepare_cached("SELECT model FROM sessions WHERE session_id = ?1")?
            .query_row([session], |r| r.get(0))
            .optional()
            .map(Option::flatten),
    }
}

/// Records the model subagent `agent_id` of `session` runs on, on its `SubagentStart` event.
pub fn set_subagent_model(
    tx: &Transaction<'_>,
    session: &str,
    agent_id: &str,
    model: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE events SET model = ?3
         WHERE session_id = ?1 AND agent_id = ?2 AND event = 'SubagentStart'",
    )?
    .execute(params![session, agent_id, model])
    .map(drop)
}

/// One compaction: its trigger and the context before and after it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Compaction {
    /// When it ended, Unix ms.
    pub ts_ms: i64,
    /// `manual` or `auto`.
    pub trigger: Option<String>,
    /// Context tokens before.
    pub pre_tokens: Option<u64>,
    /// Context tokens after.
    pub post_tokens: Option<u64>,
}

/// `session`'s compactions, oldest first.
pub fn compactions(conn: &Connection, session: &str) -> rusqlite::Result<Vec<Compaction>> {
    conn.prepare_cached(
        "SELECT ts_ms, trigger, pre_tokens, post_tokens FROM compactions
         WHERE session_id = ?1 ORDER BY ts_ms",
    )?
    .query_map([session], |r| {
        let tokens = |i| -> rusqlite::Result<Option<u64>> {
            Ok(r.get::<_, Option<i64>>(i)?.map(|t| t.max(0) as u64))
        };
        Ok(Compaction {
            ts_ms: r.get(0)?,
            trigger: r.get(1)?,
            pre_tokens: tokens(2)?,
            post_tokens: tokens(3)?,
        })
    })?
    .collect()
}

/// A plan or billing limit a turn stopped on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LimitHit {
    /// The session.
    pub session_id: String,
    /// When, Unix ms.
    pub ts_ms: i64,
    /// `rate_limit` or `billing_error`.
    pub kind: String,
    /// What Claude Code said.
    pub detail: Option<String>,
}

/// The limits hit since `since_ms`, newest first.
pub fn limit_hits(conn: &Connection, since_ms: i64) -> rusqlite::Result<Vec<LimitHit>> {
    conn.prepare_cached(
        "SELECT session_id, ts_ms, kind, detail FROM limit_hits WHERE ts_ms >= ?1
         ORDER BY ts_ms DESC",
    )?
    .query_map([since_ms], |r| {
        Ok(LimitHit {
            session_id: r.get(0)?,
            ts_ms: r.get(1)?,
            kind: r.get(2)?,
            detail: r.get(3)?,
        })
    })?
    .collect()
}
