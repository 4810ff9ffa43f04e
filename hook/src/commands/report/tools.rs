//! "What ate my window": tool calls ranked by the tokens their results put into the context,
//! per tool (MCP tools grouped by server), per tool and subject, and per subagent.

use std::collections::BTreeMap;

use anyhow::Result;
use rusqlite::{Connection, params};
use serde::Serialize;

use super::render::{self, num};
use super::{Filter, Format, Scope};
use crate::store::usage::{Totals, totals_at};

/// Options of `tollgate report tools`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ToolsArgs {
    /// How many of the biggest tool + subject pairs and subagents to list.
    #[arg(long, short = 'n', default_value_t = 15)]
    pub limit: u32,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub scope: Scope,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub format: Format,
}

/// One tool's calls and what their results added.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolRow {
    /// Tool name (for an MCP server's total: `mcp__<server>`).
    pub tool: String,
    /// The MCP server, for MCP tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Calls in the main conversation.
    pub calls: u64,
    /// Calls tollgate denied.
    pub denied: u64,
    /// Estimated tokens their results added to the main context.
    pub est_tokens: u64,
    /// Share of the main context's growth in the period.
    pub share: f64,
    /// The largest single result.
    pub max_tokens: u64,
    /// Calls made inside subagents.
    pub subagent_calls: u64,
    /// Estimated tokens of those results (in the subagents' own contexts).
    pub subagent_est_tokens: u64,
}

/// One tool + subject (file, command, pattern) pair in the main conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectRow {
    /// Tool name.
    pub tool: String,
    /// What it touched.
    pub subject: String,
    /// Calls.
    pub calls: u64,
    /// Estimated tokens added.
    pub est_tokens: u64,
    /// Share of the context growth.
    pub share: f64,
    /// A cheaper way, for big results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<&'static str>,
}

/// One subagent run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubagentRow {
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

/// The whole tools report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolsReport {
    /// Sum of the main contexts' growth between consecutive responses, in tokens.
    pub context_growth_tokens: u64,
    /// Estimated tokens of every main-conversation tool result.
    pub tool_est_tokens: u64,
    /// Per tool, largest first; MCP servers as one row each, followed by their tools.
    pub tools: Vec<ToolRow>,
    /// The biggest tool + subject pairs.
    pub subjects: Vec<SubjectRow>,
    /// `Agent` (`Task`) calls by subagent type: calls and tokens their answers added.
    pub agent_calls: Vec<SubjectRow>,
    /// The most expensive subagent runs.
    pub subagents: Vec<SubagentRow>,
}

/// `mcp__<server>__<tool>` → the server (`plugin_<p>_<server>` for plugin-bundled ones).
pub fn mcp_server(tool: &str) -> Option<&str> {
    let rest = tool.strip_prefix("mcp__")?;
    Some(rest.split_once("__").map_or(rest, |(server, _)| server))
}

/// Results at least this big get a hint about the cheaper way.
pub const HINT_TOKENS: u64 = 5_000;

/// The cheaper way to get what a big `tool` result gave.
pub fn hint(tool: &str, tokens: u64) -> Option<&'static str> {
    if tokens < HINT_TOKENS {
        return None;
    }
    Some(match tool {
        "Read" => "read a range (offset/limit), or Grep for the part you need",
        "Grep" => "narrow it: a path or glob, output_mode files_with_matches, or head_limit",
        "Glob" => "use a narrower pattern or directory",
        "Bash" | "PowerShell" => "cut the output: | head, | tail, grep, or a quiet flag",
        "WebFetch" => "ask for the part you need in the prompt, not the whole page",
        "Agent" | "Task" => "ask the subagent for a shorter answer",
        t if t.starts_with("mcp__") => "ask the MCP tool for less (filters, limits, fields)",
        _ => return None,
    })
}

/// The positive growth of the main-chain context between consecutive responses of each
/// session in `filter`, in tokens.
pub fn context_growth(conn: &Connection, filter: &Filter) -> rusqlite::Result<u64> {
    let (since, until) = filter.range();
    conn.query_row(
        "SELECT coalesce(sum(max(d, 0)), 0) FROM (
             SELECT p - lag(p) OVER (PARTITION BY session_id ORDER BY ts_ms) AS d
             FROM (SELECT session_id, ts_ms,
                          input_tokens + cache_write_5m + cache_write_1h + cache_read_tokens AS p
                   FROM usage
                   WHERE sidechain = 0 AND agent_id IS NULL AND ts_ms >= ?1 AND ts_ms < ?2
                     AND (?3 IS NULL OR project IN (SELECT value FROM json_each(?3)))))
         WHERE d IS NOT NULL",
        params![since, until, filter.projects_json()],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n.max(0) as u64)
}

/// Builds the report over `filter`, listing at most `limit` subjects and subagents.
pub fn build(conn: &Connection, filter: &Filter, limit: u32) -> rusqlite::Result<ToolsReport> {
    let (since, until) = filter.range();
    let projects = filter.projects_json();
    let growth = context_growth(conn, filter)?;
    let share = |tokens: u64| {
        if growth > 0 {
            tokens as f64 / growth as f64
        } else {
            0.0
        }
    };
    const WHERE: &str = "ts_ms >= ?1 AND ts_ms < ?2
        AND (?3 IS NULL OR project IN (SELECT value FROM json_each(?3)))";

    // Per tool, main conversation and subagents apart.
    let mut stmt = conn.prepare(&format!(
        "SELECT tool_name, agent_id IS NOT NULL,
                sum(event = 'PreToolUse'), sum(event IN ('PostToolUse', 'PostToolUseFailure')),
                sum(event = 'PreToolUse' AND decision = 'deny'),
                sum(CASE WHEN event = 'PostToolUse' THEN est_tokens ELSE 0 END),
                max(CASE WHEN event = 'PostToolUse' THEN est_tokens ELSE 0 END)
         FROM events WHERE tool_name IS NOT NULL AND {WHERE} GROUP BY 1, 2"
    ))?;
    let mut tools: BTreeMap<String, ToolRow> = BTreeMap::new();
    let mut rows = stmt.query(params![since, until, projects])?;
    while let Some(r) = rows.next()? {
        let tool: String = r.get(0)?;
        let in_subagent: bool = r.get(1)?;
        let n = |i: usize| -> rusqlite::Result<u64> {
            Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
        };
        // Without a PreToolUse hook, the PostToolUse events count the calls.
        let calls = n(2)?.max(n(3)?);
        let row = tools.entry(tool.clone()).or_insert_with(|| ToolRow {
            server: mcp_server(&tool).map(str::to_owned),
            tool,
            ..ToolRow::default()
        });
        if in_subagent {
            row.subagent_calls += calls;
            row.subagent_est_tokens += n(5)?;
        } else {
            row.calls += calls;
            row.denied += n(4)?;
            row.est_tokens += n(5)?;
            row.max_tokens = row.max_tokens.max(n(6)?);
        }
    }
    let tool_est_tokens = tools.values().map(|t| t.est_tokens).sum();
    let mut report = ToolsReport {
        context_growth_tokens: growth,
        tool_est_tokens,
        tools: group_mcp(tools.into_values().collect()),
        ..ToolsReport::default()
    };
    for row in &mut report.tools {
        row.share = share(row.est_tokens);
    }

    // The biggest tool + subject pairs, and Agent calls by subagent type.
    let mut stmt = conn.prepare(&format!(
        "SELECT tool_name, coalesce(subject, ''), count(*), sum(est_tokens) FROM events
         WHERE event = 'PostToolUse' AND agent_id IS NULL AND tool_name IS NOT NULL AND {WHERE}
         GROUP BY 1, 2 ORDER BY 4 DESC, 3 DESC, 1, 2"
    ))?;
    let mut rows = stmt.query(params![since, until, projects])?;
    let mut agents: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let tool: String = r.get(0)?;
        let subject: String = r.get(1)?;
        let (calls, tokens) = (
            r.get::<_, i64>(2)? as u64,
            r.get::<_, i64>(3)?.max(0) as u64,
        );
        if matches!(tool.as_str(), "Agent" | "Task") {
            let kind = subject
                .split([':', ' '])
                .next()
                .filter(|k| !k.is_empty())
                .unwrap_or("general-purpose");
            let entry = agents.entry(kind.to_owned()).or_default();
            entry.0 += calls;
            entry.1 += tokens;
        }
        if report.subjects.len() < limit as usize {
            report.subjects.push(SubjectRow {
                hint: hint(&tool, tokens / calls.max(1)),
                tool,
                subject,
                calls,
                est_tokens: tokens,
                share: share(tokens),
            });
        }
    }
    report.agent_calls = agents
        .into_iter()
        .map(|(kind, (calls, tokens))| SubjectRow {
            tool: "Agent".into(),
            subject: kind,
            calls,
            est_tokens: tokens,
            share: share(tokens),
            hint: None,
        })
        .collect();
    report
        .agent_calls
        .sort_by_key(|a| std::cmp::Reverse(a.est_tokens));

    report.subagents = subagents(conn, filter, limit)?;
    Ok(report)
}

/// MCP tools under one row per server (the server's sums, then its tools); everything
/// ordered by tokens added, largest first.
fn group_mcp(rows: Vec<ToolRow>) -> Vec<ToolRow> {
    let mut groups: BTreeMap<String, Vec<ToolRow>> = BTreeMap::new();
    for row in rows {
        let key = match &row.server {
            Some(server) => format!("mcp__{server}"),
            None => row.tool.clone(),
        };
        groups.entry(key).or_default().push(row);
    }
    let mut groups: Vec<(ToolRow, Vec<ToolRow>)> = groups
        .into_iter()
        .map(|(key, mut members)| {
            if members.len() == 1 && members[0].server.is_none() {
                return (members.remove(0), Vec::new());
            }
            members.sort_by(|a, b| b.est_tokens.cmp(&a.est_tokens).then(b.calls.cmp(&a.calls)));
            let mut total = ToolRow {
                tool: key,
                server: members[0].server.clone(),
                ..ToolRow::default()
            };
            for m in &members {
                total.calls += m.calls;
                total.denied += m.denied;
                total.est_tokens += m.est_tokens;
                total.max_tokens = total.max_tokens.max(m.max_tokens);
                total.subagent_calls += m.subagent_calls;
                total.subagent_est_tokens += m.subagent_est_tokens;
            }
            (total, members)
        })
        .collect();
    groups.sort_by(|a, b| {
        (b.0.est_tokens, b.0.calls + b.0.subagent_calls)
            .cmp(&(a.0.est_tokens, a.0.calls + a.0.subagent_calls))
    });
    groups
        .into_iter()
        .flat_map(|(total, members)| std::iter::once(total).chain(members))
        .collect()
}

/// The most expensive subagent runs in `filter`: their own usage and tool calls.
fn subagents(conn: &Connection, filter: &Filter, limit: u32) -> rusqlite::Result<Vec<SubagentRow>> {
    let (since, until) = filter.range();
    let mut stmt = conn.prepare(
        "SELECT agent_id, min(session_id), group_concat(DISTINCT model), count(*),
                sum(input_tokens), sum(output_tokens), sum(cache_write_5m), sum(cache_write_1h),
                sum(cache_read_tokens), sum(coalesce(cost_usd, 0)), sum(cost_usd IS NULL),
                (SELECT count(*) FROM events e WHERE e.agent_id = u.agent_id AND e.event = 'PreToolUse'),
                (SELECT coalesce(sum(est_tokens), 0) FROM events e
                 WHERE e.agent_id = u.agent_id AND e.event = 'PostToolUse')
         FROM usage u
         WHERE agent_id IS NOT NULL AND ts_ms >= ?1 AND ts_ms < ?2
           AND (?3 IS NULL OR project IN (SELECT value FROM json_each(?3)))
         GROUP BY agent_id ORDER BY sum(coalesce(cost_usd, 0)) DESC, count(*) DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![since, until, filter.projects_json(), limit], |r| {
        let n = |i: usize| -> rusqlite::Result<u64> {
            Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
        };
        let models: String = r.get::<_, Option<String>>(2)?.unwrap_or_default();
        Ok(SubagentRow {
            agent_id: r.get(0)?,
            session_id: r.get(1)?,
            models: models
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect(),
            usage: totals_at(r, 3)?,
            tool_calls: n(11)?,
            tool_est_tokens: n(12)?,
        })
    })?;
    rows.collect()
}

/// Runs `tollgate report tools`.
pub fn run(args: &ToolsArgs) -> Result<()> {
    let opened = args.scope.open()?;
    let report = build(opened.store.conn(), &opened.filter, args.limit)?;
    if args.format.json {
        return render::print_json(&report);
    }
    if args.format.csv {
        let header = [
            "kind",
            "tool",
            "subject",
            "calls",
            "est_tokens",
            "share_of_context_growth",
            "subagent_calls",
            "subagent_est_tokens",
        ];
        let tools = report.tools.iter().map(|t| {
            vec![
                "tool".into(),
                t.tool.clone(),
                String::new(),
                t.calls.to_string(),
                t.est_tokens.to_string(),
                format!("{:.4}", t.share),
                t.subagent_calls.to_string(),
                t.subagent_est_tokens.to_string(),
            ]
        });
        let subjects = report.subjects.iter().map(|s| {
            vec![
                "subject".into(),
                s.tool.clone(),
                s.subject.clone(),
                s.calls.to_string(),
                s.est_tokens.to_string(),
                format!("{:.4}", s.share),
                String::new(),
                String::new(),
            ]
        });
        return render::print_csv(&header, tools.chain(subjects));
    }
    print_tables(&report);
    Ok(())
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn print_tables(report: &ToolsReport) {
    if report.tools.is_empty() {
        println!(
            "No tool calls recorded in this range. tollgate records them from its hook (see the README's Install section); `tollgate import` reads token usage only."
        );
        return;
    }
    println!(
        "Main-conversation context grew by {} tokens between responses; tool results account for an estimated {} ({}).",
        render::count(report.context_growth_tokens),
        render::count(report.tool_est_tokens),
        percent(if report.context_growth_tokens > 0 {
            report.tool_est_tokens as f64 / report.context_growth_tokens as f64
        } else {
            0.0
        }),
    );
    let mut table = crate::term::table::new([
        "Tool",
        "Calls",
        "Denied",
        "Tokens added (est.)",
        "Share of growth",
        "Avg/call",
        "Largest",
        "In subagents",
    ]);
    for t in &report.tools {
        let name = match &t.server {
            Some(server) if t.tool == format!("mcp__{server}") => format!("MCP {server}"),
            Some(server) => format!(
                "  └ {}",
                t.tool.trim_start_matches(&format!("mcp__{server}__"))
            ),
            None => t.tool.clone(),
        };
        table.add_row(vec![
            comfy_table::Cell::new(name),
            num(render::count(t.calls)),
            num(if t.denied > 0 {
                render::count(t.denied)
            } else {
                String::new()
            }),
            num(render::count(t.est_tokens)),
            num(percent(t.share)),
            num(render::count(t.est_tokens / t.calls.max(1))),
            num(render::count(t.max_tokens)),
            num(if t.subagent_calls > 0 {
                format!(
                    "{}× · {} tokens",
                    render::count(t.subagent_calls),
                    render::short(t.subagent_est_tokens)
                )
            } else {
                String::new()
            }),
        ]);
    }
    println!("{table}");
    if !report.subjects.is_empty() {
        println!("\nBiggest results (tool and what it touched):");
        let mut table = crate::term::table::new([
            "Tool",
            "Subject",
            "Calls",
            "Tokens added (est.)",
            "Share",
            "Cheaper way",
        ]);
        for s in &report.subjects {
            table.add_row(vec![
                comfy_table::Cell::new(&s.tool),
                comfy_table::Cell::new(&s.subject),
                num(render::count(s.calls)),
                num(render::count(s.est_tokens)),
                num(percent(s.share)),
                comfy_table::Cell::new(s.hint.unwrap_or("")),
            ]);
        }
        println!("{table}");
    }
    if !report.agent_calls.is_empty() {
        println!("\nSubagent calls by type (tokens their answers added to the main context):");
        let mut table =
            crate::term::table::new(["Subagent type", "Calls", "Tokens added (est.)", "Share"]);
        for a in &report.agent_calls {
            table.add_row(vec![
                comfy_table::Cell::new(&a.subject),
                num(render::count(a.calls)),
                num(render::count(a.est_tokens)),
                num(percent(a.share)),
            ]);
        }
        println!("{table}");
    }
    if !report.subagents.is_empty() {
        println!("\nMost expensive subagent runs (their own API usage):");
        let mut table = crate::term::table::new([
            "Agent",
            "Session",
            "Models",
            "Responses",
            "Total tokens",
            "Cost",
            "Tool calls",
            "Tool results (est.)",
        ]);
        for a in &report.subagents {
            let models: Vec<String> = a.models.iter().map(|m| render::short_model(m)).collect();
            table.add_row(vec![
                comfy_table::Cell::new(&a.agent_id),
                comfy_table::Cell::new(a.session_id.chars().take(8).collect::<String>()),
                comfy_table::Cell::new(models.join(", ")),
                num(render::count(a.usage.messages)),
                num(render::count(a.usage.tokens.total())),
                num(render::cost(&a.usage)),
                num(render::count(a.tool_calls)),
                num(render::count(a.tool_est_tokens)),
            ]);
        }
        println!("{table}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_servers_and_hints() {
        assert_eq!(mcp_server("mcp__github__list_issues"), Some("github"));
        assert_eq!(mcp_server("mcp__plugin_x_db__query"), Some("plugin_x_db"));
        assert_eq!(mcp_server("Read"), None);
        assert!(hint("Read", 40_000).unwrap().contains("offset"));
        assert_eq!(hint("Read", 100), None);
        assert_eq!(hint("Edit", 40_000), None);
    }

    #[test]
    fn mcp_tools_are_grouped_under_their_server() {
        let row = |tool: &str, tokens: u64| ToolRow {
            tool: tool.into(),
            server: mcp_server(tool).map(str::to_owned),
            calls: 1,
            est_tokens: tokens,
            ..ToolRow::default()
        };
        let grouped = group_mcp(vec![
            row("Read", 500),
            row("mcp__gh__a", 300),
            row("mcp__gh__b", 400),
        ]);
        let names: Vec<(&str, u64)> = grouped
            .iter()
            .map(|r| (r.tool.as_str(), r.est_tokens))
            .collect();
        assert_eq!(
            names,
            [
                ("mcp__gh", 700),
                ("mcp__gh__b", 400),
                ("mcp__gh__a", 300),
                ("Read", 500)
            ]
        );
    }
}
