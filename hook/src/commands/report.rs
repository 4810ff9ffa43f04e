//! `tollgate report`: reviewing the usage log.
//!
//! Each view lives in its own module under `report/`: it queries the store into plain data,
//! and prints that data as a table, JSON or CSV ([`render`]). Sums come from the 15-minute
//! rollups wherever the grouping allows (every real time-zone offset is a multiple of 15
//! minutes, so local days, weeks and months fall on bucket edges), from the per-response rows
//! where it does not.

use std::process::ExitCode;

use anyhow::Result;

pub mod blocks;
pub mod cache;
pub mod context;
pub mod html;
pub mod outcomes;
pub mod periods;
pub mod render;
pub mod scope;
pub mod tools;

pub use scope::{Filter, Format, Scope};

/// The report views.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ReportCommand {
    /// Tokens and cost per day (in --timezone), like `ccusage claude daily`.
    Daily(periods::PeriodArgs),
    /// Tokens and cost per week (starting on --start-of-week, Sunday by default, as ccusage).
    Weekly(periods::WeeklyArgs),
    /// Tokens and cost per month.
    Monthly(periods::PeriodArgs),
    /// Tokens and cost per session, most recent last.
    Session(periods::PeriodArgs),
    /// Tokens and cost per model.
    Models(periods::PeriodArgs),
    /// Tokens and cost per project (working directory).
    Projects(periods::PeriodArgs),
    /// Claude's 5-hour usage blocks, as ccusage counts them, with the active block's burn rate
    /// and when it will reach a limit.
    Blocks(blocks::BlocksArgs),
    /// What ate the context window: tool calls ranked by the tokens their results added, per
    /// tool, per tool and subject, MCP server and subagent.
    Tools(tools::ToolsArgs),
    /// One session's context size, response by response, with what made it grow and what
    /// each growth cost.
    Context(context::ContextArgs),
    /// What the spend bought: lines changed, files touched, commits and pull requests next to
    /// the cost, per session, day, week or project, and the cost per outcome. Never a ranking
    /// by tokens.
    Outcomes(outcomes::OutcomesArgs),
    /// The prompt cache: per session or day, the share of input read from the cache, and
    /// each cache lapse (the context written again after an idle gap past the cache's
    /// lifetime) with what it cost against a cache read.
    Cache(cache::CacheArgs),
    /// One self-contained HTML file with charts (no network needed to view it).
    Html(html::HtmlArgs),
}

/// Runs `tollgate report …`.
pub fn run(command: &ReportCommand) -> Result<ExitCode> {
    match command {
        ReportCommand::Daily(args) => periods::run(periods::View::Daily, args),
        ReportCommand::Weekly(args) => {
            periods::run(periods::View::Weekly(args.start()?), &args.period)
        }
        ReportCommand::Monthly(args) => periods::run(periods::View::Monthly, args),
        ReportCommand::Session(args) => periods::run(periods::View::Session, args),
        ReportCommand::Models(args) => periods::run(periods::View::Models, args),
        ReportCommand::Projects(args) => periods::run(periods::View::Projects, args),
        ReportCommand::Blocks(args) => blocks::run(args),
        ReportCommand::Tools(args) => tools::run(args),
        ReportCommand::Context(args) => context::run(args),
        ReportCommand::Outcomes(args) => outcomes::run(args),
        ReportCommand::Cache(args) => cache::run(args),
        ReportCommand::Html(args) => html::run(args),
    }?;
    Ok(ExitCode::SUCCESS)
}
