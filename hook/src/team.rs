//! Team budgets: local figures pushed to a shared PostgreSQL database by `tollgate sync`, the
//! team's totals pulled back into a local cache, and policies seeing them as `usage.team`.
//!
//! The hook never touches the network: it reads only the cache row `tollgate sync` wrote
//! ([`cached`]), and says whether it is older than `stale_after_minutes`.

pub mod otlp;
pub mod remote;
pub mod report;
pub mod sync;

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::store::usage::{Window, rfc3339};

/// The environment variable that overrides `[team] database`.
pub const DATABASE_ENV: &str = "TOLLGATE_TEAM_DATABASE";

/// The `[team]` section of the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// The shared database, `postgres://user:password@host:port/dbname?sslmode=require`
    /// (overridden by `TOLLGATE_TEAM_DATABASE`).
    #[serde(default)]
    pub database: Option<String>,
    /// Who you are in the team's figures (default: `user@host`).
    #[serde(default)]
    pub person: Option<String>,
    /// The team's name: one database can hold several teams.
    #[serde(default = "default_team")]
    pub team: String,
    /// What is shared besides decisions: `totals` (always: tokens, cost, counts, the project
    /// directory's name) and `tool_names`. Prompts, tool inputs and outputs, and subjects are
    /// never shared.
    #[serde(default = "default_share")]
    pub share: Vec<Share>,
    /// After how long without a sync the cached team figures are marked `stale`.
    #[serde(default = "default_stale")]
    pub stale_after_minutes: u64,
    /// An OpenTelemetry collector (OTLP/HTTP, e.g. `http://localhost:4318`): each sync exports
    /// the metrics of the rows it pushed.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
}

/// One kind of shared data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Share {
    /// Token, cost and activity totals per session and project directory name.
    Totals,
    /// The name of each tool called.
    ToolNames,
}

fn default_team() -> String {
    "default".into()
}

fn default_share() -> Vec<Share> {
    vec![Share::Totals, Share::ToolNames]
}

fn default_stale() -> u64 {
    60
}

impl TeamConfig {
    /// The database URL: `TOLLGATE_TEAM_DATABASE`, else `[team] database`.
    pub fn database(&self) -> Result<String> {
        match std::env::var(DATABASE_ENV).ok().filter(|v| !v.is_empty()) {
            Some(url) => Ok(url),
            None => match &self.database {
                Some(url) => Ok(url.clone()),
                None => bail!(
                    "no team database: set `database = \"postgres://…\"` in [team] or {DATABASE_ENV}"
                ),
            },
        }
    }

    /// This person's id: `[team] person`, else `user@host`.
    pub fn person(&self) -> String {
        self.person.clone().unwrap_or_else(default_person)
    }

    /// Whether `what` is shared.
    pub fn shares(&self, what: Share) -> bool {
        self.share.contains(&what)
    }
}

/// `user@host` from the environment and the system's host name.
fn default_person() -> String {
    let user = ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    format!("{user}@{}", host_name())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// One person's (or the whole team's) day and week.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Periods {
    /// Since local midnight (this machine's calendar).
    pub day: Window,
    /// Since the weekly reset.
    pub week: Window,
}

/// The team's figures as of the last sync (the ABI's `usage.team`).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TeamUsage {
    /// When they were pulled (RFC 3339, UTC).
    pub synced_at: String,
    /// Whether that is older than `[team] stale_after_minutes`.
    pub stale: bool,
    /// Minutes since the sync.
    pub age_minutes: u64,
    /// The team's name.
    pub name: String,
    /// This person's id.
    pub person_id: String,
    /// This person, all machines.
    pub person: Periods,
    /// The whole team.
    pub team: Periods,
    /// Each person.
    pub by_person: BTreeMap<String, Periods>,
}

/// The cached team figures at `now_ms`, or `None` before the first sync. Reads one row.
pub fn cached(
    conn: &Connection,
    config: &TeamConfig,
    now_ms: i64,
) -> rusqlite::Result<Option<TeamUsage>> {
    let row: Option<(i64, String)> = conn
        .query_row(
            "SELECT synced_ms, doc FROM team_cache WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.and_then(|(synced_ms, doc)| {
        let mut team: TeamUsage = serde_json::from_str(&doc).ok()?;
        let age_minutes = (now_ms - synced_ms).max(0) as u64 / 60_000;
        team.synced_at = rfc3339(synced_ms);
        team.age_minutes = age_minutes;
        team.stale = age_minutes >= config.stale_after_minutes;
        Some(team)
    }))
}

/// Replaces the cached team figures (written by `tollgate sync`).
pub fn store_cache(
    tx: &rusqlite::Transaction<'_>,
    team: &TeamUsage,
    synced_ms: i64,
) -> rusqlite::Result<()> {
    let doc = serde_json::to_string(team).expect("plain data serialises");
    tx.execute(
        "INSERT INTO team_cache (id, synced_ms, doc) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET synced_ms = excluded.synced_ms, doc = excluded.doc",
        rusqlite::params![synced_ms, doc],
    )?;
    Ok(())
}

/// `tollgate team …`.
#[derive(Debug, clap::Subcommand)]
pub enum TeamCommand {
    /// Create or upgrade the tables in the team database (also done by every `tollgate sync`).
    Migrate,
    /// Per person and per project: cost, tokens, tool calls, sessions, interventions and
    /// downgrades applied, from the team database.
    Report(report::ReportArgs),
}

/// Runs a `tollgate team` command.
pub fn run(command: &TeamCommand) -> Result<std::process::ExitCode> {
    let config = crate::config::Config::load(&crate::cli::paths()?.config_file, None)?;
    let team = configured(&config)?;
    match command {
        TeamCommand::Migrate => {
            let mut client = remote::connect(&team.database()?)?;
            let (from, to) = remote::migrate(&mut client)?;
            if from == to {
                println!("The team database is up to date (schema version {to}).");
            } else {
                println!("Migrated the team database from schema version {from} to {to}.");
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        TeamCommand::Report(args) => report::run(args, team),
    }
}

/// The `[team]` section, or an error saying how to add it.
pub fn configured(config: &crate::config::Config) -> Result<&TeamConfig> {
    let Some(team) = config.team.as_ref() else {
        bail!(
            "no [team] section in the config: add `[team]` with `database = \"postgres://…\"` (or set {DATABASE_ENV} and add an empty `[team]`)"
        );
    };
    if !team.shares(Share::Totals) {
        bail!("[team] share must include \"totals\": team budgets are built from them");
    }
    Ok(team)
}
