//! "What ate my window": tool calls ranked by the tokens their results put into the context,
//! per tool (MCP tools grouped by server), per tool and subject, and per subagent.

use std::collections::BTreeMap;

use anyhow::Result;
use rusqlite::Connection;
use serde::Serialize;

use super::render::{self, num};
use super::{Filter, Format, Scope};
use crate::store::tool_calls::{self, Subagent};

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
    pub subagents: Vec<Subagent>,
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

/// Builds the report over `filter`, listing at most `limit` subjects and subagents.
pub fn build(conn: &Connection, filter: &Filter, limit: u32) -> rusqlite::Result<ToolsReport> {
    let selection = filter.selection();
    let growth = tool_calls::context_growth(conn, &selection)?;
    let share = |tokens: u64| {
        if growth > 0 {
            tokens as f64 / growth as f64
        } else {
            0.0
        }
    };

    // Per tool, main conversation and subagents apart.
    let mut tools: BTreeMap<String, ToolRow> = BTreeMap::new();
    for calls in tool_calls::by_tool(conn, &selection)? {
        let row = tools.entry(calls.tool.clone()).or_insert_with(|| ToolRow {
            server: mcp_server(&calls.tool).map(str::to_owned),
            tool: calls.tool,
            ..ToolRow::default()
        });
        if calls.in_subagent {
            row.subagent_calls += calls.calls;
            row.subagent_est_tokens += calls.est_tokens;
        } else {
            row.calls += calls.calls;
            row.denied += calls.denied;
            row.est_tokens += calls.est_tokens;
            row.max_tokens = row.max_tokens.max(calls.max_tokens);
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
    let mut agents: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for calls in tool_calls::by_subject(conn, &selection)? {
        let (tool, subject, calls, tokens) =
            (calls.tool, calls.subject, calls.calls, calls.est_tokens);
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

    report.subagents = tool_calls::subagents(conn, &selection, limit)?;
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
