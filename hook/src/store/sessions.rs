//! One session's records as `report context` reads them: its main-chain responses, its
//! transcript's path, and the tool results the hook saw.

use rusqlite::{Connection, OptionalExtension};

use crate::store::count_at;

/// A main-chain response of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct MainChainResponse {
    /// `message.id`.
    pub message_id: String,
    /// When, Unix ms.
    pub ts_ms: i64,
    /// Model id.
    pub model: String,
    /// Project (cwd).
    pub project: String,
    /// The context it was sent with: input + cache writes + cache reads.
    pub context: u64,
    /// Output tokens.
    pub output: u64,
    /// Input tokens written to the 5-minute cache.
    pub cache_write_5m: u64,
    /// Input tokens written to the 1-hour cache.
    pub cache_write_1h: u64,
}

/// A tool result the hook recorded (`PostToolUse`) in a session's main conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The call's id.
    pub tool_use_id: Option<String>,
    /// Tool name.
    pub tool: Option<String>,
    /// What it touched.
    pub subject: Option<String>,
    /// Estimated tokens of the result.
    pub est_tokens: u64,
    /// When, Unix ms.
    pub ts_ms: i64,
}

/// The session of the latest main-chain response, if any.
pub fn latest(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT session_id FROM usage WHERE sidechain = 0 AND agent_id IS NULL
         ORDER BY ts_ms DESC LIMIT 1",
        [],
        |r| r.get(0),
    )
    .optional()
}

/// Up to `limit` sessions with usage whose id starts with `prefix`.
pub fn starting_with(conn: &Connection, prefix: &str, limit: u32) -> rusqlite::Result<Vec<String>> {
    conn.prepare(
        "SELECT DISTINCT session_id FROM usage WHERE session_id >= ?1 AND session_id < ?1 || x'ff'
         LIMIT ?2",
    )?
    .query_map(rusqlite::params![prefix, limit], |r| r.get(0))?
    .collect()
}

/// `session`'s main-chain responses in order.
pub fn main_chain(conn: &Connection, session: &str) -> rusqlite::Result<Vec<MainChainResponse>> {
    let mut stmt = conn.prepare(
        "SELECT message_id, ts_ms, model, project, input_tokens + cache_write_5m + cache_write_1h
                + cache_read_tokens, output_tokens, cache_write_5m, cache_write_1h
         FROM usage WHERE session_id = ?1 AND sidechain = 0 AND agent_id IS NULL
         ORDER BY ts_ms, id",
    )?;
    let rows = stmt.query_map([session], |r| {
        Ok(MainChainResponse {
            message_id: r.get(0)?,
            ts_ms: r.get(1)?,
            model: r.get(2)?,
            project: r.get(3)?,
            context: count_at(r, 4)?,
            output: count_at(r, 5)?,
            cache_write_5m: count_at(r, 6)?,
            cache_write_1h: count_at(r, 7)?,
        })
    })?;
    rows.collect()
}

/// The stored transcript paths that end in `<session>.jsonl`.
pub fn transcript_paths(conn: &Connection, session: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare("SELECT path FROM transcripts WHERE path LIKE '%' || ?1 || '.jsonl'")?
        .query_map([session], |r| r.get(0))?
        .collect()
}

/// The tool results the hook recorded in `session`'s main conversation, in order.
pub fn tool_results(conn: &Connection, session: &str) -> rusqlite::Result<Vec<ToolResult>> {
    conn.prepare(
        "SELECT tool_use_id, tool_name, subject, est_tokens, ts_ms FROM events
         WHERE session_id = ?1 AND agent_id IS NULL AND event = 'PostToolUse' ORDER BY ts_ms, id",
    )?
    .query_map([session], |r| {
        Ok(ToolResult {
            tool_use_id: r.get(0)?,
            tool: r.get(1)?,
            subject: r.get(2)?,
            est_tokens: count_at(r, 3)?,
            ts_ms: r.get(4)?,
        })
    })?
    .collect()
}
