//! The tool calls the hook recorded and the context they grew: what `report tools` ranks.

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::store::cells::{SELECTED, Selection};
use crate::store::count_at as count;
use crate::store::usage::{Totals, totals_at};

/// One tool's calls, in the main conversation or in subagents.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCalls {
    /// Tool name.
    pub tool: String,
    /// Made by subagents.
    pub in_subagent: bool,
    /// Calls (`PreToolUse` events, or `PostToolUse` ones without a `PreToolUse` hook).
    pub calls: u64,
    /// Calls denied.
    pub denied: u64,
    /// Estimated tokens of their results.
    pub est_tokens: u64,
    /// The largest result's estimated tokens.
    pub max_tokens: u64,
}

/// A tool and subject's calls in the main conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectCalls {
    /// Tool name.
    pub tool: String,
    /// What the calls touched ("" when not known).
    pub subject: String,
    /// Calls.
    pub calls: u64,
    /// Estimated tokens of their results.
    pub est_tokens: u64,
}

/// One subagent run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subagent {
    /// Its id (`agentId`).
    pub agent_id: String,
    /// Its session.
    pub session_id: String,
    /// Models it used.
    pub models: Vec<String>,
    /// Its own API usage.
    pub usage: Totals,
    /// Tool calls it made.
    pub tool_calls: u64,
    /// Estimated tokens of their results.
    pub tool_est_tokens: u64,
}

/// The positive growth of the main-chain context between consecutive responses of each
/// session in `selection`, in tokens.
pub fn context_growth(conn: &Connection, selection: &Selection<'_>) -> rusqlite::Result<u64> {
    conn.query_row(
        &format!(
            "SELECT coalesce(sum(max(d, 0)), 0) FROM (
                 SELECT p - lag(p) OVER (PARTITION BY session_id ORDER BY ts_ms) AS d
                 FROM (SELECT session_id, ts_ms,
                              input_tokens + cache_write_5m + cache_write_1h
                                  + cache_read_tokens AS p
                       FROM usage
                       WHERE sidechain = 0 AND agent_id IS NULL AND {SELECTED}))
             WHERE d IS NOT NULL"
        ),
        selection.params(),
        |r| count(r, 0),
    )
}

/// Each tool's calls in `selection`, main conversation and subagents apart, by name.
pub fn by_tool(conn: &Connection, selection: &Selection<'_>) -> rusqlite::Result<Vec<ToolCalls>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT tool_name, agent_id IS NOT NULL,
                sum(event = 'PreToolUse'), sum(event IN ('PostToolUse', 'PostToolUseFailure')),
                sum(event = 'PreToolUse' AND decision = 'deny'),
                sum(CASE WHEN event = 'PostToolUse' THEN est_tokens ELSE 0 END),
                max(CASE WHEN event = 'PostToolUse' THEN est_tokens ELSE 0 END)
         FROM events WHERE tool_name IS NOT NULL AND {SELECTED} GROUP BY 1, 2"
    ))?;
    let rows = stmt.query_map(selection.params(), |r| {
        Ok(ToolCalls {
            tool: r.get(0)?,
            in_subagent: r.get(1)?,
            // Without a PreToolUse hook, the PostToolUse events count the calls.
            calls: count(r, 2)?.max(count(r, 3)?),
            denied: count(r, 4)?,
            est_tokens: count(r, 5)?,
            max_tokens: count(r, 6)?,
        })
    })?;
    rows.collect()
}

/// The main conversation's calls in `selection` per tool and subject, the most tokens first.
pub fn by_subject(
    conn: &Connection,
    selection: &Selection<'_>,
) -> rusqlite::Result<Vec<SubjectCalls>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT tool_name, coalesce(subject, ''), count(*), sum(est_tokens) FROM events
         WHERE event = 'PostToolUse' AND agent_id IS NULL AND tool_name IS NOT NULL AND {SELECTED}
         GROUP BY 1, 2 ORDER BY 4 DESC, 3 DESC, 1, 2"
    ))?;
    let rows = stmt.query_map(selection.params(), |r| {
        Ok(SubjectCalls {
            tool: r.get(0)?,
            subject: r.get(1)?,
            calls: count(r, 2)?,
            est_tokens: count(r, 3)?,
        })
    })?;
    rows.collect()
}

/// The `limit` most expensive subagent runs in `selection`: their own usage and tool calls.
pub fn subagents(
    conn: &Connection,
    selection: &Selection<'_>,
    limit: u32,
) -> rusqlite::Result<Vec<Subagent>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT agent_id, min(session_id), group_concat(DISTINCT model), count(*),
                sum(input_tokens), sum(output_tokens), sum(cache_write_5m), sum(cache_write_1h),
                sum(cache_read_tokens), sum(coalesce(cost_usd, 0)), sum(cost_usd IS NULL),
                (SELECT count(*) FROM events e WHERE e.agent_id = u.agent_id AND e.event = 'PreToolUse'),
                (SELECT coalesce(sum(est_tokens), 0) FROM events e
                 WHERE e.agent_id = u.agent_id AND e.event = 'PostToolUse')
         FROM usage u
         WHERE agent_id IS NOT NULL AND {SELECTED}
         GROUP BY agent_id ORDER BY sum(coalesce(cost_usd, 0)) DESC, count(*) DESC LIMIT ?4"
    ))?;
    let (since, until, projects) = selection.params();
    let rows = stmt.query_map(params![since, until, projects, limit], |r| {
        let models: String = r.get::<_, Option<String>>(2)?.unwrap_or_default();
        Ok(Subagent {
            agent_id: r.get(0)?,
            session_id: r.get(1)?,
            models: models
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect(),
            usage: totals_at(r, 3)?,
            tool_calls: count(r, 11)?,
            tool_est_tokens: count(r, 12)?,
        })
    })?;
    rows.collect()
}
