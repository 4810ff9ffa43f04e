//! `tollgate team report`: what each person and each project got for the money, from the team
//! database: cost, tokens, tool calls, sessions, cost per session, policy interventions and
//! subagent downgrades applied. Sorted by name, not by spend: it is not a leaderboard.

use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use crate::config::team::TeamConfig;

/// Options of `tollgate team report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// How many days back (ending now).
    #[arg(long, default_value_t = 7, value_name = "N")]
    pub days: u32,
    /// Print the rows as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One person's or project's figures.
#[derive(Debug, Serialize)]
pub struct Row {
    /// The person's id or the project's name.
    pub name: String,
    /// Cost of the priced messages.
    pub cost_usd: f64,
    /// Input, output and cache tokens.
    pub total_tokens: i64,
    /// `PreToolUse` events.
    pub tool_calls: i64,
    /// Sessions with usage.
    pub sessions: i64,
    /// Hook calls a policy answered with something other than allow.
    pub interventions: i64,
    /// Subagent downgrades Claude Code applied.
    pub downgrades_applied: i64,
}

/// Both tables of the report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The team's name.
    pub team: String,
    /// Days covered.
    pub days: u32,
    /// Per person.
    pub by_person: Vec<Row>,
    /// Per project.
    pub by_project: Vec<Row>,
}

/// Runs `tollgate team report`.
pub fn run(args: &ReportArgs, team: &TeamConfig) -> Result<ExitCode> {
    let mut client = super::remote::connect(&team.database()?)?;
    super::remote::migrate(&mut client)?;
    let since = crate::term::clock::now_ms() - i64::from(args.days) * 24 * 3600 * 1000;
    let report = Report {
        team: team.team.clone(),
        days: args.days,
        by_person: rows(&mut client, "person", &team.team, since)?,
        by_project: rows(&mut client, "project", &team.team, since)?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Team \"{}\", last {} days.",
        crate::text::printable(&report.team),
        report.days
    );
    for (title, rows) in [
        ("Person", &report.by_person),
        ("Project", &report.by_project),
    ] {
        println!("{}", table(title, rows));
    }
    Ok(ExitCode::SUCCESS)
}

/// The report's rows grouped by `key` (`person` or `project`, both columns of every table).
fn rows(client: &mut postgres::Client, key: &str, team: &str, since: i64) -> Result<Vec<Row>> {
    let sql = format!(
        "WITH u AS (SELECT {key} AS k, coalesce(sum(cost_usd), 0)::float8 AS cost,
                       sum(input_tokens + output_tokens + cache_write_tokens
                           + cache_read_tokens)::int8 AS tokens,
                       count(DISTINCT session_id) AS sessions
                FROM tollgate_usage WHERE team = $1 AND ts_ms >= $2 GROUP BY 1),
              e AS (SELECT {key} AS k, count(*) FILTER (WHERE event = 'PreToolUse') AS tools,
                       count(*) FILTER (WHERE decision IS NOT NULL AND decision <> 'allow')
                           AS interventions
                FROM tollgate_events WHERE team = $1 AND ts_ms >= $2 GROUP BY 1),
              d AS (SELECT {key} AS k, count(*) FILTER (WHERE applied = 'yes') AS applied
                FROM tollgate_downgrades WHERE team = $1 AND ts_ms >= $2 GROUP BY 1)
         SELECT coalesce(u.k, e.k, d.k), coalesce(u.cost, 0), coalesce(u.tokens, 0),
                coalesce(e.tools, 0), coalesce(u.sessions, 0), coalesce(e.interventions, 0),
                coalesce(d.applied, 0)
         FROM u FULL JOIN e ON e.k = u.k FULL JOIN d ON d.k = coalesce(u.k, e.k)
         ORDER BY 1"
    );
    Ok(client
        .query(&sql, &[&team, &since])?
        .iter()
        .map(|r| Row {
            name: r.get(0),
            cost_usd: r.get(1),
            total_tokens: r.get(2),
            tool_calls: r.get(3),
            sessions: r.get(4),
            interventions: r.get(5),
            downgrades_applied: r.get(6),
        })
        .collect())
}

fn table(title: &str, rows: &[Row]) -> crate::term::table::Table {
    let mut table = crate::term::table::new([
        title,
        "Cost",
        "Tokens",
        "Tool calls",
        "Sessions",
        "Cost/session",
        "Interventions",
        "Downgrades applied",
    ]);
    for row in rows {
        let per_session = if row.sessions > 0 {
            format!("${:.2}", row.cost_usd / row.sessions as f64)
        } else {
            "-".into()
        };
        table.add_row([
            row.name.clone(),
            format!("${:.2}", row.cost_usd),
            row.total_tokens.to_string(),
            row.tool_calls.to_string(),
            row.sessions.to_string(),
            per_session,
            row.interventions.to_string(),
            row.downgrades_applied.to_string(),
        ]);
    }
    table
}
