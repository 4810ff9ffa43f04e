//! `tollgate team report`: what each person and each project got for the money, from the team
//! database: cost, tokens, tool calls, sessions, cost per session, policy interventions and
//! subagent downgrades applied, and the outcomes beside the cost (lines changed, files
//! touched, commits, pull requests, cost per outcome). Sorted by name, not by spend: it is not
//! a leaderboard.

use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use crate::config::team::TeamConfig;
use crate::store::team_db;
use crate::store::team_db::report::{Row, rows};

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
    let mut client = team_db::connect(&team.database()?)?;
    team_db::migrate(&mut client)?;
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
        println!("{}", outcomes_table(title, rows));
    }
    Ok(ExitCode::SUCCESS)
}

/// The outcomes beside the cost; `-` where unknown.
fn outcomes_table(title: &str, rows: &[Row]) -> crate::term::table::Table {
    let mut table = crate::term::table::new([
        title,
        "Cost",
        "Lines +",
        "Lines -",
        "Files",
        "Commits",
        "Pull requests",
        "Cost/100 lines",
        "Cost/commit",
    ]);
    let count = |n: Option<i64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let usd = |n: Option<f64>| n.map_or_else(|| "-".to_owned(), |n| format!("${n:.2}"));
    for row in rows {
        let o = &row.outcomes;
        table.add_row([
            row.name.clone(),
            format!("${:.2}", row.cost_usd),
            count(o.lines_added),
            count(o.lines_removed),
            count(o.files_touched),
            count(o.commits),
            count(o.pull_requests),
            usd(o.cost_per_100_lines),
            usd(o.cost_per_commit),
        ]);
    }
    table
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
