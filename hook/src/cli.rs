//! The command line: `tollgate <command>`. Doc comments here are the `--help` text.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::hook;
use crate::text::one_line;

/// tollgate: see where your Claude Code tokens go, and set limits on them.
///
/// Claude Code runs `tollgate hook` on every hook event. It records the event and the real
/// token usage from the session transcript in a local SQLite store, runs your WASM policies
/// over live usage figures, and answers allow, warn, downgrade, ask or deny.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, propagate_version = true)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// tollgate's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Handle one Claude Code hook call (register this in settings.json).
    ///
    /// Reads the hook input JSON on stdin, records it, runs the policies and prints Claude
    /// Code's answer on stdout. Always exits 0; problems are reported on stderr and answered
    /// per `on_internal_error` (allow by default). Every step is bounded: the call answers
    /// within 7 s whatever the input (Claude Code waits 10 s), and a store locked by another
    /// process never costs the call's record (it waits in a spool file for the next call).
    Hook,
    /// Show the recorded hook events, newest last.
    Log(crate::commands::log::LogArgs),
    /// Show the current session, block, day and week against your budgets, the plan's real
    /// windows, what is left, the context and the subagent downgrades.
    Status(crate::commands::status::StatusArgs),
    /// Print Claude Code's status line (register this as `statusLine` in settings.json).
    ///
    /// Reads the JSON Claude Code sends the status line on stdin, records the plan's real
    /// 5-hour and 7-day windows, the context window and the cost it reports, and prints one
    /// line: model, context %, 5-hour window %, session cost. Always exits 0.
    Statusline,
    /// Replay a bundled, real-shaped Claude Code session and show what tollgate does.
    ///
    /// Uses a throw-away store and its own config: your data is not touched.
    Demo(crate::commands::demo::DemoArgs),
    /// List, check and test policies.
    #[command(subcommand)]
    Policy(crate::commands::policy::PolicyCommand),
    /// Write the commented default config (built-in policies, warn-only).
    Init(crate::commands::init::InitArgs),
    /// Register tollgate's hook for every event in a Claude Code settings file.
    ///
    /// Keeps every other key and hook as it is (key order included), backs the file up first
    /// (`settings.json.tollgate-backup-<time>`) and does nothing when tollgate is already
    /// registered. Installing again after moving the binary replaces tollgate's entries.
    Install(crate::commands::install::InstallArgs),
    /// Remove what `tollgate install` added (and tollgate's status line).
    Uninstall(crate::commands::install::Target),
    /// Trust a project's `.claude/tollgate.toml`, so that its policies and prices apply.
    ///
    /// A repository is untrusted input: its file is ignored until you trust it, and ignored
    /// again when it changes (the trust is recorded with the file's sha256). Even trusted, a
    /// project only adds to your config: it cannot replace or turn off your policies, raise
    /// sandbox limits, change prices you have, or set `on_internal_error`, `builtins` or the
    /// store. Review the file first: the command shows what it adds.
    Trust(crate::commands::trust::TrustArgs),
    /// Let every hook call through for a while: the policies and the guard answer allow.
    ///
    /// Calls are still recorded, with what tollgate would have answered (`tollgate log` shows
    /// it as "paused"); `tollgate status` and the status line show the pause while it lasts.
    /// It ends by itself (at most 24h) or with `tollgate resume`. Only you can run it: the
    /// guard denies it to the agent.
    Pause(crate::commands::pause::PauseArgs),
    /// End a pause now: the policies and the guard answer again.
    Resume,
    /// Check the setup and explain each problem with its fix; exits 1 if something is wrong.
    ///
    /// Checks the binary, which settings files register tollgate (and events registered
    /// twice), the project's config (trusted or not), the store (and whether the hook can read
    /// its figures), Claude Code's transcripts (and lines not counted), every configured
    /// policy, the price table's age, and times a real hook call in a temporary store (your
    /// data is untouched).
    Doctor(crate::commands::doctor::DoctorArgs),
    /// Usage reports: by day, week, month, session, 5-hour block, model, tool, project; a
    /// session's context timeline; an HTML report with charts.
    ///
    /// Figures agree with ccusage on the same transcripts (`tollgate import` first to include
    /// what happened before tollgate was installed).
    #[command(subcommand)]
    Report(crate::commands::report::ReportCommand),
    /// Backfill the store from the transcripts Claude Code already wrote.
    ///
    /// Reads `projects/**/*.jsonl` under CLAUDE_CONFIG_DIR (comma-separated), else under both
    /// ~/.config/claude and ~/.claude. Safe to run again: only what is new is read, and each
    /// API response is stored once.
    Import(crate::commands::import::ImportArgs),
    /// Push new local usage, events and downgrades to the team database (`[team]` in the
    /// config), then pull the team's day and week totals into the local cache policies read.
    ///
    /// Exactly once: rerun it as often as you like, after any failure. The hook never waits
    /// for the network; run this from an asynchronous `Stop`/`SessionEnd` hook or a timer.
    Sync(crate::commands::team::sync::SyncArgs),
    /// Team database: migrate it, report per person and per project.
    #[command(subcommand)]
    Team(crate::commands::team::TeamCommand),
}

/// Runs the command line; the process's exit code.
pub fn main() -> ExitCode {
    // Claude Code starts `hook` and `statusline` many times a minute and they take no options:
    // skip building clap's command tree (every subcommand and flag) for them.
    let mut args = std::env::args_os().skip(1);
    if let (Some(command), None) = (args.next(), args.next()) {
        if command == "hook" {
            return hook::main();
        }
        if command == "statusline" {
            return crate::commands::statusline::main();
        }
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hook => return hook::main(),
        Command::Log(args) => crate::commands::log::run(&args),
        Command::Status(args) => crate::commands::status::run(&args),
        Command::Statusline => return crate::commands::statusline::main(),
        Command::Demo(args) => crate::commands::demo::run(&args),
        Command::Policy(command) => crate::commands::policy::run(&command),
        Command::Init(args) => crate::commands::init::run(&args),
        Command::Install(args) => crate::commands::install::install(&args),
        Command::Uninstall(target) => crate::commands::install::uninstall(&target),
        Command::Trust(args) => crate::commands::trust::run(&args),
        Command::Pause(args) => crate::commands::pause::pause(&args),
        Command::Resume => crate::commands::pause::resume(),
        Command::Doctor(args) => crate::commands::doctor::run(&args),
        Command::Report(command) => crate::commands::report::run(&command),
        Command::Import(args) => crate::commands::import::run(&args),
        Command::Sync(args) => crate::commands::team::sync::run(&args),
        Command::Team(command) => crate::commands::team::run(&command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("tollgate: {}", one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
