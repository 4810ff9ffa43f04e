//! `tollgate sync`: push the local rows the team database has not acknowledged, then pull
//! the team's day and week totals into the local cache the hook reads.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use postgres::Client;
use serde::Serialize;

use crate::config::team::{TeamConfig, configured};
use crate::store::Store;
use crate::store::team::TeamUsage;
use crate::store::team_db;
use crate::store::team_db::pull::pull;
use crate::store::team_db::push::{self, Pushed, Who};
use crate::time::Calendar;

/// Options of `tollgate sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Print nothing unless it fails (for the asynchronous `Stop`/`SessionEnd` hook).
    #[arg(long, short)]
    pub quiet: bool,
    /// Print what was pushed and pulled as JSON.
    #[arg(long, conflicts_with = "quiet")]
    pub json: bool,
    #[command(flatten)]
    store: crate::commands::StoreArgs,
}

/// What a sync did.
#[derive(Debug, Serialize)]
pub struct Report {
    /// This person's id.
    pub person: String,
    /// The team's name.
    pub team: String,
    /// Per stream (`usage`, `events`, `downgrades`, `work`, `session_lines`,
    /// `watched_sessions`).
    pub pushed: BTreeMap<&'static str, Pushed>,
    /// The figures pulled into the cache.
    pub pulled: TeamUsage,
    /// The OpenTelemetry export, when `otlp_endpoint` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp: Option<Exported>,
}

/// What the OpenTelemetry export did.
#[derive(Debug, Serialize)]
pub struct Exported {
    /// The collector.
    pub endpoint: String,
    /// Values recorded and sent, if it worked.
    pub values: Option<u64>,
    /// Why not, if it failed.
    pub error: Option<String>,
}

/// Runs `tollgate sync`.
pub fn run(args: &SyncArgs) -> Result<ExitCode> {
    let (mut store, config) = args.store.open_with_config()?;
    let team = configured(&config)?;
    let mut client = team_db::connect(&team.database()?)?;
    team_db::migrate(&mut client)?;
    let report = sync(
        &mut store,
        &mut client,
        team,
        &config.calendar()?,
        crate::term::clock::now_ms(),
    )?;
    if let Some(error) = report.otlp.as_ref().and_then(|o| o.error.as_ref()) {
        eprintln!("tollgate: {error}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !args.quiet {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// Pushes every stream, then pulls the team's figures into the cache.
pub fn sync(
    store: &mut Store,
    client: &mut Client,
    team: &TeamConfig,
    calendar: &Calendar,
    now_ms: i64,
) -> Result<Report> {
    let machine = push::machine_id(store)?;
    let person = team.person();
    let who = Who {
        machine: &machine,
        person: &person,
        team,
        now_ms,
    };
    let pushed = push::push_all(store, client, &who)?;
    let otlp = team.otlp_endpoint.as_deref().map(|endpoint| {
        let rows = super::otlp::Rows {
            usage: pushed.get("usage").and_then(Pushed::ids),
            events: pushed.get("events").and_then(Pushed::ids),
        };
        let result = super::otlp::export(endpoint, store, &rows, &person, &team.team);
        Exported {
            endpoint: endpoint.to_owned(),
            error: result.as_ref().err().map(|e| format!("{e:#}")),
            values: result.ok(),
        }
    });
    let pulled = pull(client, team, &person, calendar, now_ms)?;
    store.write(|tx| crate::store::team::store_cache(tx, &pulled, now_ms))?;
    let pulled = crate::store::team::cached(store.conn(), team, now_ms)
        .map_err(|e| store.error(e))?
        .unwrap_or(pulled);
    Ok(Report {
        person,
        team: team.team.clone(),
        pushed,
        pulled,
        otlp,
    })
}

fn print_report(report: &Report) {
    let pushed: Vec<String> = report
        .pushed
        .iter()
        .map(|(name, p)| format!("{} {name} ({} new)", p.sent, p.new))
        .collect();
    println!("Pushed {}.", pushed.join(", "));
    if let Some(Exported {
        endpoint,
        values: Some(values),
        ..
    }) = &report.otlp
    {
        println!("Exported {values} metric values to {endpoint}.");
    }
    let t = &report.pulled;
    println!(
        "Team \"{}\" ({} people): ${:.2} today, ${:.2} this week; you ({}): ${:.2} today, ${:.2} this week.",
        report.team,
        t.by_person.len(),
        t.team.day.cost_usd,
        t.team.week.cost_usd,
        report.person,
        t.person.day.cost_usd,
        t.person.week.cost_usd,
    );
}
