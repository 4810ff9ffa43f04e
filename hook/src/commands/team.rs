//! `tollgate team` and `tollgate sync`: team budgets through a shared PostgreSQL database (and
//! OpenTelemetry). Local figures are pushed to the database, the team's totals pulled back into
//! the local store's cache, where policies see them as `usage.team`.

pub mod otlp;
pub mod report;
pub mod sync;

use anyhow::Result;

use crate::config::team::configured;

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
    let config = crate::config::Config::load(&crate::paths::Paths::discover()?.config_file, None)?;
    let team = configured(&config)?;
    match command {
        TeamCommand::Migrate => {
            let mut client = crate::store::team_db::connect(&team.database()?)?;
            let (from, to) = crate::store::team_db::migrate(&mut client)?;
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
